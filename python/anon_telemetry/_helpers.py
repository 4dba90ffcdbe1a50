"""The Anonymizer's telemetry helpers, with its exact rules, computed by the library.

The rules live once, in C (spool/hosts.c), for the command, C programs and this
package alike. What Python adds is only what a C string cannot carry: the endpoint is
lower-cased with Python's own str.lower() before the library's substring tests (the
reference rule is ``needle in endpoint.lower()``, and a few non-ASCII letters lower-case
to ASCII), and a NUL character, which ends a C string, is dealt with here.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable, List, Optional, Union

from ._native import load

NOT_APPLICABLE = "not_applicable"
"""The value of a model field that a run did not use, and of an empty alias pool."""


class ModelHostEnum(str, enum.Enum):
    """Where a model provider's endpoint is hosted (the ``modelHosts`` values)."""

    NVIDIA_BUILD = "nvidia-build"
    NVIDIA_INTERNAL = "nvidia-internal"
    OPENROUTER = "openrouter"
    LOCAL = "local"
    OTHER = "other"


# classify_model_host's tests in the order they are tried: the first that matches wins
_PRIORITY = [h.value for h in ModelHostEnum]


def _cstr(s: str, what: str) -> bytes:
    if "\0" in s:
        raise ValueError("%s: contains a NUL character" % what)
    # surrogatepass keeps any str representable and byte order equal to code point order
    return s.encode("utf-8", "surrogatepass")


def classify_model_host(provider: Union[Any, str, None]) -> ModelHostEnum:
    """Classifies a model provider's endpoint URL into a ModelHostEnum.

    ``provider`` is an object with an ``endpoint`` attribute (the Anonymizer's
    ``ModelProvider``), the endpoint string itself, or None. The lower-cased endpoint
    is tested for, in order: ``build.nvidia.com`` or ``integrate.api.nvidia.com``
    (NVIDIA_BUILD), ``inference-api.nvidia.com`` (NVIDIA_INTERNAL), ``openrouter.ai``
    (OPENROUTER), ``localhost``, ``127.0.0.1``, ``0.0.0.0`` or ``[::1]`` (LOCAL);
    anything else, and no provider or endpoint, is OTHER.

    Raises SpoolError when the library cannot be loaded.
    """
    if provider is None:
        endpoint: Any = ""
    elif isinstance(provider, str):
        endpoint = provider
    else:
        endpoint = getattr(provider, "endpoint", "") or ""
    if not isinstance(endpoint, str):
        endpoint = str(endpoint)  # a URL object
    lib = load()
    # a needle never holds a NUL, so no match spans one: test each piece, best one wins
    best = len(_PRIORITY) - 1
    for piece in endpoint.lower().split("\0"):
        host = lib.classify_model_host(piece.encode("utf-8", "surrogatepass"))
        best = min(best, _PRIORITY.index(host))
    return ModelHostEnum(_PRIORITY[best])


def collect_model_hosts(hosts: Iterable[Union[ModelHostEnum, str, None]]) -> List[str]:
    """The distinct host values, sorted ascending, as they go on the wire
    (``modelHosts``); ``["other"]`` when there are none. None items are skipped.

    Raises SpoolError when the library cannot be loaded, ValueError for a value with a
    NUL character.
    """
    values = []
    for h in hosts:
        if h is None:
            continue
        v = h.value if isinstance(h, enum.Enum) else h
        values.append(_cstr(v if isinstance(v, str) else str(v), "host"))
    return [v.decode("utf-8", "surrogatepass") for v in load().collect_model_hosts(values)]


def sort_join_aliases(aliases: Iterable[Optional[str]]) -> str:
    """The canonical form of a pool of model aliases: each stripped (Python's
    ``str.strip()``), empty ones dropped, sorted ascending and joined with ``,`` and no
    spaces; ``"not_applicable"`` when none is left.

    Raises SpoolError when the library cannot be loaded, TypeError for an item that is
    not a str, ValueError for one with a NUL character.
    """
    values = []
    for i, a in enumerate(aliases):
        if not a:  # None and "" are skipped, as the Anonymizer does
            continue
        if not isinstance(a, str):
            raise TypeError("aliases[%d]: expected a str, got %s" % (i, type(a).__name__))
        values.append(_cstr(a, "aliases[%d]" % i))
    return load().sort_join_aliases(values).decode("utf-8", "surrogatepass")
