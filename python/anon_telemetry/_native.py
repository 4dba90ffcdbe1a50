"""Finding and loading libanontelemetry, and the C prototypes this package calls.

The library is looked for, in this order, and the first that loads is used for the
life of the process:

1. ``$ANON_TELEMETRY_LIB``, when set: that file and nothing else (an explicit choice
   that fails is reported, never silently replaced by another library);
2. the installed library: the one ``make install`` put beside this package (its
   ``LIBDIR``, recorded in ``_installed.py`` at install time), then
   ``libanontelemetry.so.1`` as the dynamic linker finds it, then whatever
   ``ctypes.util.find_library("anontelemetry")`` names;
3. this checkout's ``build/``: ``libanontelemetry.so.1``, then ``libanontelemetry.so``.

Nothing is loaded at import time: ``import anon_telemetry`` works on a host without the
library, and the handler reports the failure through ``last_error`` instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

SONAME = "libanontelemetry.so.1"
ERRLEN = 512  # ANON_ERRLEN
UUID_LEN = 36  # ANON_UUID_LEN

# enum anon_status (anon_telemetry.h). Only these two are told apart here: any other
# value, including ones a newer library may add (a busy spool), is a failure whose
# text comes from the error buffer or anon_status_str().
ANON_OK = 0
ANON_DISABLED = 1


class SpoolError(Exception):
    """An event could not be validated or stored, or the library could not be used.

    ``status`` is the library's status code (``None`` when the failure happened before
    the library was reached, e.g. it could not be loaded); ``str(error)`` is the reason,
    in the library's words where it gave them (``numInputRecords: expected an integer,
    got a string``).
    """

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def message(self) -> str:
        """The reason, as a sentence."""
        return str(self.args[0])


class _AppendOpts(ctypes.Structure):
    _fields_ = [("session_id", ctypes.c_char_p), ("client_version", ctypes.c_char_p)]


_c_char_p_p = ctypes.POINTER(ctypes.c_char_p)
_c_void_p_p = ctypes.POINTER(ctypes.c_void_p)

# name, restype, argtypes: every function of the C API this package calls
_PROTOTYPES = (
    ("anon_status_str", ctypes.c_char_p, [ctypes.c_int]),
    ("anon_telemetry_enabled", ctypes.c_int, []),
    ("anon_deployment_type", ctypes.c_char_p, []),
    ("anon_classify_model_host", ctypes.c_char_p, [ctypes.c_char_p]),
    ("anon_collect_model_hosts", ctypes.c_size_t,
     [_c_char_p_p, ctypes.c_size_t, _c_char_p_p, ctypes.c_size_t]),
    # returns malloc'd memory: kept as a raw pointer so that it can be freed
    ("anon_sort_join_aliases", ctypes.c_void_p, [_c_char_p_p, ctypes.c_size_t]),
    ("anon_count_tokens", ctypes.c_long, [ctypes.c_char_p, ctypes.c_size_t]),
    ("anon_sum_tokens", ctypes.c_longlong,
     [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t), ctypes.c_size_t]),
    ("anon_event_from_json", ctypes.c_int,
     [ctypes.c_char_p, ctypes.c_size_t, _c_void_p_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("anon_event_free", None, [ctypes.c_void_p]),
    ("anon_event_set_time", ctypes.c_int,
     [ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p, ctypes.c_size_t]),
    ("anon_spool_open", ctypes.c_int,
     [ctypes.c_char_p, _c_void_p_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("anon_spool_append", ctypes.c_int,
     [ctypes.c_void_p, _c_void_p_p, ctypes.c_size_t, ctypes.POINTER(_AppendOpts),
      ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
    ("anon_spool_close", None, [ctypes.c_void_p]),
)


class Library:
    """The loaded library: its path and thin, typed wrappers of the calls used here.

    Every wrapper returns Python values and raises SpoolError on failure; the C
    functions release the GIL while they run (ctypes.CDLL), so threads spool and count
    in parallel.
    """

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.path = path
        missing = []
        for name, restype, argtypes in _PROTOTYPES:
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                missing.append(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, "_" + name[len("anon_"):], fn)
        if missing:
            raise SpoolError("%s cannot be used: it lacks %s (not libanontelemetry, or one "
                             "older than this package)" % (path, ", ".join(missing)))
        # the free() that pairs with the library's malloc(): looked up through the
        # library, so that a sanitizer's allocator is matched too
        self._free = cdll.free
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]
        self._tls = threading.local()

    # ---- errors ----

    def _errbuf(self) -> ctypes.Array:
        # one per thread, kept empty: error() clears it after reading a message
        try:
            return self._tls.err
        except AttributeError:
            buf = self._tls.err = ctypes.create_string_buffer(ERRLEN)
            return buf

    def status_str(self, status: int) -> str:
        s = self._status_str(status)
        return s.decode("utf-8", "replace") if s else "unknown status"

    def error(self, status: int, err: Optional[ctypes.Array], prefix: str = "") -> SpoolError:
        """A SpoolError for a failed call: the library's sentence, else its status name."""
        text = ""
        if err is not None:
            text = err.value.decode("utf-8", "replace")
            err[0] = b"\0"
        if not text:
            text = "%s (status %d)" % (self.status_str(status), status)
        return SpoolError(prefix + text, status)

    # ---- environment and helpers ----

    def telemetry_enabled(self) -> bool:
        return bool(self._telemetry_enabled())

    def deployment_type(self) -> str:
        """deploymentType's default, from NEMO_DEPLOYMENT_TYPE now."""
        return self._deployment_type().decode("ascii")

    def classify_model_host(self, endpoint: bytes) -> str:
        return self._classify_model_host(endpoint).decode("ascii")

    def collect_model_hosts(self, hosts: Sequence[bytes]) -> List[bytes]:
        n = len(hosts)
        arr = (ctypes.c_char_p * max(n, 1))(*hosts)
        out = (ctypes.c_char_p * max(n, 1))()
        k = self._collect_model_hosts(arr, n, out, max(n, 1))
        return [out[i] for i in range(k)]

    def sort_join_aliases(self, aliases: Sequence[bytes]) -> bytes:
        n = len(aliases)
        arr = (ctypes.c_char_p * max(n, 1))(*aliases)
        p = self._sort_join_aliases(arr, n)
        if not p:
            raise MemoryError("anon_sort_join_aliases: out of memory")
        try:
            return ctypes.string_at(p)
        finally:
            self._free(p)

    # ---- tokens ----

    def count_tokens(self, data: bytes) -> int:
        return int(self._count_tokens(data, len(data)))

    def sum_tokens(self, data: List[bytes]) -> int:
        """The sum of the token counts of data, in one call (the GIL released for all of
        it): -1 on failure."""
        k = len(data)
        return int(self._sum_tokens((ctypes.c_char_p * k)(*data),
                                    (ctypes.c_size_t * k)(*map(len, data)), k))

    # ---- events and the spool ----

    def event_from_json(self, data: bytes) -> int:
        """A new anon_event (its address) parsed and validated from one JSON object."""
        ev = ctypes.c_void_p()
        err = self._errbuf()
        st = self._event_from_json(data, len(data), ctypes.byref(ev), err, ERRLEN)
        if st != ANON_OK:
            self._event_free(ev)  # NULL after a failure; freeing it is a no-op
            raise self.error(st, err)
        return ev.value  # type: ignore[return-value]

    def event_set_time(self, ev: int, ms: int) -> None:
        err = self._errbuf()
        st = self._event_set_time(ev, ms, err, ERRLEN)
        if st != ANON_OK:
            raise self.error(st, err)

    def event_free(self, ev: int) -> None:
        self._event_free(ev)

    def events_free(self, evs: Sequence[int]) -> None:
        for _ in map(self._event_free, evs):  # the loop runs in C
            pass

    def append(self, path: Optional[bytes], events: Sequence[int],
               session_id: Optional[bytes], client_version: Optional[bytes]) -> List[str]:
        """Opens the spool, stores every event in one transaction, closes it: the uuids."""
        n = len(events)
        err = ctypes.create_string_buffer(ERRLEN)
        sp = ctypes.c_void_p()
        st = self._spool_open(path, ctypes.byref(sp), err, ERRLEN)
        if st != ANON_OK:
            self._spool_close(sp)
            raise self.error(st, err)
        try:
            arr = (ctypes.c_void_p * n)(*events)
            uuids = ctypes.create_string_buffer((UUID_LEN + 1) * n)
            opts = _AppendOpts(session_id, client_version)
            st = self._spool_append(sp, arr, n, ctypes.byref(opts), uuids, err, ERRLEN)
            if st != ANON_OK:
                raise self.error(st, err)
        finally:
            self._spool_close(sp)
        raw = uuids.raw.decode("ascii")
        step = UUID_LEN + 1
        return [raw[i:i + UUID_LEN] for i in range(0, n * step, step)]


# ---- finding the library ----

def _checkout_root() -> Optional[Path]:
    """This source tree's top directory, when the package is run from a checkout."""
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "spool" / "anon_telemetry.h").is_file():
        return root
    return None


def _candidates() -> Iterator[Tuple[str, str]]:
    """(what, path or name to dlopen), in the order of the module docstring."""
    env = os.environ.get("ANON_TELEMETRY_LIB")
    if env:
        yield "ANON_TELEMETRY_LIB", env
        return
    try:
        from . import _installed  # written by make install
        libdir = getattr(_installed, "LIBDIR", "")
        if libdir:
            yield "installed", os.path.join(libdir, SONAME)
    except ImportError:
        pass
    yield "installed", SONAME
    found = ctypes.util.find_library("anontelemetry")
    if found and found != SONAME:
        yield "installed", found
    root = _checkout_root()
    if root is not None:
        yield "checkout", str(root / "build" / SONAME)
        yield "checkout", str(root / "build" / "libanontelemetry.so")


_lock = threading.Lock()
_library: Optional[Library] = None
_load_error: Optional[SpoolError] = None


def load() -> Library:
    """The library, loaded on first use; raises SpoolError (the same one every time)
    when it cannot be loaded."""
    global _library, _load_error
    lib = _library
    if lib is not None:
        return lib
    with _lock:
        if _library is not None:
            return _library
        if _load_error is not None:
            raise _load_error
        tried = []
        for what, name in _candidates():
            try:
                cdll = ctypes.CDLL(name)
            except OSError as e:
                # dlerror() already names the file; the first line is enough
                tried.append(str(e).splitlines()[0] if str(e) else name)
                if what == "ANON_TELEMETRY_LIB":
                    _load_error = SpoolError(
                        "cannot load libanontelemetry from ANON_TELEMETRY_LIB=%s: %s"
                        % (name, tried[-1]))
                    raise _load_error
                continue
            try:
                _library = Library(cdll, name)
            except SpoolError as e:
                _load_error = e
                raise
            return _library
        _load_error = SpoolError(
            "cannot load libanontelemetry (install it with make install, or set "
            "ANON_TELEMETRY_LIB to its path); tried: " + "; ".join(tried))
        raise _load_error


def library_path() -> Optional[str]:
    """The path (or name) the library was loaded from; None when it is not loaded."""
    lib = _library
    return lib.path if lib is not None else None
