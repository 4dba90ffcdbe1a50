"""Exact cl100k_base token counts through the library: no tiktoken, nothing downloaded."""

from __future__ import annotations

import itertools
import logging
import os
import threading
from typing import Any, Iterable, List, Union

from ._native import SpoolError, load

log = logging.getLogger("anon_telemetry")


def _utf8(text: str) -> bytes:
    """The UTF-8 text tiktoken would count for a Python str.

    A str can hold lone surrogates, which UTF-8 cannot: tiktoken then re-reads the text
    through UTF-16 with errors="replace" (a pair of lone surrogates becomes the character
    they encode, a lone one U+FFFD), and so does this.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


def count_tokens(text: Union[str, bytes, bytearray, memoryview, Any]) -> int:
    """The number of cl100k_base tokens in ``text``, exactly as tiktoken's
    ``encode(text, disallowed_special=())`` counts them (special-token text such as
    ``<|endoftext|>`` is ordinary text).

    ``text`` is a str (anything else but bytes is counted as ``str(text)``) or bytes,
    where bytes that are not valid UTF-8 are read as ``decode("utf-8", "replace")``
    reads them. Returns -1 when counting fails (the library cannot be loaded); the
    reason is logged on the ``anon_telemetry`` logger.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
    else:
        data = _utf8(text if isinstance(text, str) else str(text))
    try:
        return load().count_tokens(data)
    except SpoolError as e:
        log.warning("count_tokens: %s", e)
        return -1


def avg_tokens_per_record(texts: Iterable[Any]) -> int:
    """The integer part of the mean cl100k_base token count over ``texts``, as the
    Anonymizer's own ``avg_tokens_per_record`` computes it with tiktoken
    (``int(sum / n)``), but without tiktoken (which needs to download its ranks) and
    many times faster.

    ``texts`` is any iterable (a list, a generator, a pandas Series); each item is
    counted as ``str(item)``. Large inputs are counted on every core, each record by the
    library. Returns -1 for no texts, and on any failure (the reason is logged on the
    ``anon_telemetry`` logger): telemetry is best-effort and never disrupts the caller.
    """
    try:
        lib = load()
        strs = list(map(str, texts))
        if not strs:
            return -1
        return int(_sum_counts(lib, strs) / len(strs))
    except Exception as e:  # best-effort, as the Anonymizer's helper is
        log.warning("avg_tokens_per_record: %s", e)
        return -1


# Records are handed out in chunks; fewer records than _MIN_PER_THREAD per core are not
# worth a thread (the library's own rule for anon_avg_tokens_per_record).
_CHUNK = 256
_MIN_PER_THREAD = 64


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _sum_counts(lib: Any, strs: List[str]) -> int:
    """The sum of the token counts of strs, on up to one thread per core.

    Why not one anon_avg_tokens_per_record call over everything: it needs the UTF-8 copy
    of every record alive at once (a second copy of the whole column) and starts
    counting only once all are encoded, so the encoding, which holds the GIL, cannot
    overlap the counting. Here each thread encodes a chunk, then counts it record by
    record in the library with the GIL released (ctypes releases it for every call), so
    one thread's encoding runs while the others count, and memory stays at a chunk per
    thread. The counting itself is the library's: anon_sum_tokens, one call per chunk,
    so a thread takes the GIL once per chunk rather than once per record.
    """
    n = len(strs)
    sum_tokens = lib.sum_tokens
    starts = itertools.count(0, _CHUNK)  # next() on it is atomic: threads share it
    sums: List[int] = []
    errors: List[BaseException] = []

    def work() -> None:
        s = 0
        try:
            for start in starts:
                if start >= n or errors:
                    break
                chunk = strs[start:start + _CHUNK]
                try:
                    data = [t.encode("utf-8") for t in chunk]
                except UnicodeEncodeError:
                    data = [_utf8(t) for t in chunk]
                c = sum_tokens(data)
                if c < 0:
                    raise SpoolError("anon_sum_tokens failed (out of memory?)")
                s += c
            sums.append(s)
        except BaseException as e:
            errors.append(e)

    threads = []
    for _ in range(min(_cores(), n // _MIN_PER_THREAD) - 1):
        t = threading.Thread(target=work, name="anon_telemetry-tokens", daemon=True)
        try:
            t.start()
        except RuntimeError:  # no more threads (interpreter shutting down): fewer of them
            break
        threads.append(t)
    work()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(sums)
