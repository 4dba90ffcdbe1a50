"""TelemetryHandler and spool_events: events into the spool, in-process.

An event is turned into one JSON object of parameters here and handed to the library
(anon_event_from_json), which validates it exactly as anon-telemetry-spool does, with
the same messages; nothing is validated twice. The library keeps the parsed event until
the flush appends every queued one in a single transaction.
"""

from __future__ import annotations

import enum
import json
import json.encoder
import logging
import numbers
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from ._native import SpoolError, load

log = logging.getLogger("anon_telemetry")

Event = Union["Mapping[str, Any]", Any]
SpoolPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]", None]


def _json_value(o: Any) -> Any:
    """What json cannot write by itself: enums (by value), other mappings, numbers that
    are not int or float (numpy's, Decimal)."""
    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, Mapping):
        return dict(o)
    if isinstance(o, numbers.Integral):
        return int(o)
    if isinstance(o, numbers.Real):
        return float(o)
    raise TypeError("a %s is not a JSON value" % type(o).__name__)


def _make_encoder() -> Callable[[Any], str]:
    """Compact JSON, non-ASCII kept as is (a lone surrogate then reaches the library,
    which names the field), NaN refused.

    json.JSONEncoder.encode builds a new C encoder on every call, which costs more than
    encoding a small event; one built once is reused (it is stateless without the
    circular-reference check, and an event is a flat object). Where that private
    constructor is missing or differs, the public encoder is used.
    """
    public = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                              default=_json_value).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return public
    try:
        c = make(None, _json_value, json.encoder.encode_basestring, None, ":", ",",
                 False, False, False)

        def fast(o: Any) -> str:
            return "".join(c(o, 0))

        probe = {"a": [1, 2.5, "\u00e9"], "b": True, "c": None, "d": -1.0}
        if fast(probe) != public(probe):
            return public
        return fast
    except Exception:
        return public


_encode = _make_encoder()


def _as_params(event: Event, deployment_type: Optional[Callable[[], str]] = None
               ) -> Dict[str, Any]:
    """The event's parameters as a dict (keys by alias or snake_case name).

    deployment_type, when given, supplies deploymentType for a mapping that has none:
    its default is read from the environment when the event is made, as the
    Anonymizer's model does (a model's dump always carries it), not when it is stored.
    """
    if type(event) is dict or isinstance(event, Mapping):
        params = event if type(event) is dict else dict(event)
        if deployment_type is not None and "deploymentType" not in params \
                and "deployment_type" not in params:
            params = dict(params)
            params["deploymentType"] = deployment_type()
        return params
    dump = getattr(event, "model_dump", None)  # pydantic 2
    if callable(dump):
        params = dump(by_alias=True, mode="json")
    else:
        as_dict = getattr(event, "dict", None)  # pydantic 1
        if not callable(as_dict):
            raise SpoolError("expected a mapping or a pydantic model, got a %s"
                             % type(event).__name__)
        params = as_dict(by_alias=True)
    if not isinstance(params, Mapping):
        raise SpoolError("the model dumped a %s, not a mapping" % type(params).__name__)
    return params if type(params) is dict else dict(params)


def _to_json(params: Dict[str, Any]) -> bytes:
    try:
        text = _encode(params)
    except (TypeError, ValueError, RecursionError) as e:
        # name the field, as the library would
        for k, v in params.items():
            try:
                _encode(v)
            except (TypeError, ValueError, RecursionError) as fe:
                raise SpoolError("%s: %s" % (k, fe)) from None
        raise SpoolError(str(e)) from None
    # surrogatepass: a lone surrogate reaches the library as bytes that are not UTF-8,
    # which it refuses naming the field
    return text.encode("utf-8", "surrogatepass")


def _parse(lib: Any, event: Event, deployment_type: Optional[Callable[[], str]] = None) -> int:
    """A validated anon_event for one event; raises SpoolError naming what is wrong."""
    return lib.event_from_json(_to_json(_as_params(event, deployment_type)))


def _opt(value: Optional[str], what: str) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "\0" in value:
        raise SpoolError("%s: contains a NUL character" % what)
    return value.encode("utf-8", "surrogatepass")


def _path(spool: SpoolPath) -> Optional[bytes]:
    if spool is None:
        return None
    return os.fsencode(spool)


class TelemetryHandler:
    """A drop-in for the Anonymizer's ``TelemetryHandler`` that spools instead of
    posting: every event is stored durably in the local spool, and
    ``anon-telemetry-ship`` delivers it later.

    ::

        with TelemetryHandler(source_client_version=__version__, session_id=sid) as h:
            h.enqueue(event)
        # on leaving the block every queued event is stored, in one transaction

    ``enqueue(event)`` takes a mapping of parameters (keys by alias or snake_case
    name), a pydantic 2 model (``model_dump(by_alias=True, mode="json")``: the
    Anonymizer's ``AnonymizerEvent``) or a pydantic 1 model (``dict(by_alias=True)``).
    It validates the event at once, in the library, with the messages of
    ``anon-telemetry-spool``; an invalid event is not queued. The event's ``ts`` is the
    time of ``enqueue``. ``flush()``, and leaving the ``with`` block, store every queued
    event in one transaction. The session id gets ``NEMO_SESSION_PREFIX`` (applied
    once, by the library, when the events are stored).

    Nothing here ever raises into the caller (``enqueue``, ``flush``, ``__exit__``):
    telemetry must never disrupt the pipeline. ``last_error`` is None after an
    operation that succeeded, else the reason (``numInputRecords: expected an integer,
    got a string``, an unwritable spool, a missing library, a full disk), which is also
    logged on the ``anon_telemetry`` logger. ``uuids`` lists the stored events' uuids.

    Opt-outs: with ``emit_telemetry=False``, or ``NEMO_TELEMETRY_ENABLED`` set to
    anything but ``1``/``true``/``yes`` (read at every call), nothing is queued or
    stored and that is not an error.

    ``spool`` is the spool file (default: ``$ANON_TELEMETRY_SPOOL``, else
    ``/var/spool/anon-telemetry/spool.db`` for root, else
    ``${XDG_STATE_HOME:-~/.local/state}/anon-telemetry/spool.db``). ``session_id`` None
    or ``""`` gets a random id. ``max_queue_size`` and ``max_retries`` are accepted, so
    that the Anonymizer's call works unchanged, and ignored: batching and retries are
    the shipper's job.

    Thread-safe: one handler may be shared by many threads, and many handlers in many
    threads and processes may spool into one file at once.
    """

    def __init__(self, *, source_client_version: str = "undefined",
                 session_id: Optional[str] = "undefined", spool: SpoolPath = None,
                 emit_telemetry: bool = True, max_queue_size: int = 50,
                 max_retries: int = 3) -> None:
        self.last_error: Optional[str] = None
        self.uuids: List[str] = []
        self._lock = threading.Lock()
        self._queue: List[int] = []  # addresses of the library's parsed events
        self._lib: Any = None
        self._emit = bool(emit_telemetry)
        self._client_version = source_client_version
        self._session_id = session_id
        self._spool = spool

    # ---- the Anonymizer's interface ----

    def __enter__(self) -> "TelemetryHandler":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.close()
        except BaseException as e:  # a KeyboardInterrupt mid-way is the caller's
            if not isinstance(e, Exception):
                raise
            self._failed("close failed: %s" % e)

    def enqueue(self, event: Event) -> bool:
        """Validates ``event`` and queues it; True when it was queued.

        Never raises: an invalid event, or a library that cannot be loaded, sets
        ``last_error`` (and is logged) and the event is not queued.
        """
        try:
            if not self._emit:
                self.last_error = None
                return False
            lib = self._lib or self._load()
            if not lib.telemetry_enabled():
                self.last_error = None
                return False
            ev = _parse(lib, event, lib.deployment_type)
            try:
                lib.event_set_time(ev, time.time_ns() // 1_000_000)
                with self._lock:
                    self._queue.append(ev)
            except BaseException:
                lib.event_free(ev)
                raise
            self.last_error = None
            return True
        except Exception as e:
            self._failed("event not queued: %s" % e, str(e))
            return False

    def flush(self) -> None:
        """Stores every queued event in one transaction.

        Never raises. On success ``last_error`` is None and ``uuids`` grows; on failure
        the events stay queued (a later ``flush`` may succeed) and ``last_error`` says
        why. With nothing queued it does nothing (``last_error`` keeps an ``enqueue``'s
        error, so that it is still seen after the ``with`` block).
        """
        try:
            self._flush()
        except SpoolError as e:
            self._failed(str(e))
        except Exception as e:
            self._failed("flush failed: %s" % e)

    def close(self) -> None:
        """Flushes, then drops (and logs) whatever could not be stored. ``__exit__``
        does this."""
        self.flush()
        with self._lock:
            left, self._queue = self._queue, []
        if left:
            log.warning("%d telemetry events were not stored and are dropped: %s",
                        len(left), self.last_error)
            self._free(left)

    @property
    def pending(self) -> int:
        """How many events are queued and not yet stored."""
        with self._lock:
            return len(self._queue)

    # ---- internals ----

    def _load(self) -> Any:
        if self._lib is None:
            self._lib = load()
        return self._lib

    def _failed(self, logged: str, reason: Optional[str] = None) -> None:
        self.last_error = reason if reason is not None else logged
        try:
            log.warning("%s", logged)
        except Exception:  # a broken logging handler is not our caller's problem
            pass

    def _flush(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        if not batch:
            return  # nothing happened: an earlier enqueue's error stays visible
        try:
            lib = self._load()
            if not self._emit or not lib.telemetry_enabled():
                # the opt-out holds for what was queued before it was set
                self._free(batch)
                batch = []
                self.last_error = None
                return
            uuids = lib.append(_path(self._spool), batch,
                               _opt(self._session_id, "session_id"),
                               _opt(self._client_version, "source_client_version"))
        except BaseException as e:
            if batch:
                with self._lock:
                    self._queue[:0] = batch  # kept, in order, for a later flush
                if isinstance(e, Exception):
                    raise SpoolError("%d events not stored: %s" % (len(batch), e),
                                     getattr(e, "status", None)) from None
            raise
        self._free(batch)
        with self._lock:
            self.uuids.extend(uuids)
        self.last_error = None

    def _free(self, events: List[int]) -> None:
        lib = self._lib
        if lib is not None:
            lib.events_free(events)

    def __del__(self) -> None:
        # events never flushed (no with block, no close) are dropped, not leaked
        try:
            queue = self._queue
            self._queue = []
            self._free(queue)
        except Exception:
            pass


def spool_events(events: Iterable[Event], *, source_client_version: str = "undefined",
                 session_id: Optional[str] = "undefined", spool: SpoolPath = None,
                 emit_telemetry: bool = True) -> List[str]:
    """Validates every event, then stores them all in one transaction (all or none),
    and returns their uuids in order: for callers who want errors.

    Events are as for ``TelemetryHandler.enqueue``. Raises SpoolError when an event is
    invalid (``event 2: taskStatus: missing required field``; nothing is stored), when
    the spool cannot be written, or when the library cannot be loaded; ``status`` is
    the library's status code. With telemetry disabled (``emit_telemetry=False`` or
    ``NEMO_TELEMETRY_ENABLED``) nothing is stored and the list is empty.
    """
    if isinstance(events, Mapping) or hasattr(events, "model_dump") or isinstance(events, str):
        raise SpoolError("spool_events takes an iterable of events, not one event "
                         "(use [event])")
    if not emit_telemetry:
        return []
    lib = load()
    if not lib.telemetry_enabled():
        return []
    parsed: List[int] = []
    try:
        for i, event in enumerate(events):
            try:
                parsed.append(_parse(lib, event))
            except Exception as e:  # a model whose dump fails is a bad event too
                raise SpoolError("event %d: %s" % (i + 1, e), getattr(e, "status", None)) \
                    from None
        if not parsed:
            return []
        return lib.append(_path(spool), parsed, _opt(session_id, "session_id"),
                          _opt(source_client_version, "source_client_version"))
    finally:
        lib.events_free(parsed)
