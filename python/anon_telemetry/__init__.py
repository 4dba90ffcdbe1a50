"""anon_telemetry: the Anonymizer's ``anonymizer_event`` telemetry, spooled in-process.

A drop-in for NeMo Anonymizer's telemetry handler that stores every event durably in
the local SQLite spool of libanontelemetry (``anon-telemetry-ship`` delivers it later)
instead of posting it once and dropping what could not be sent; and exact cl100k_base
token counts without tiktoken. Standard library only: ctypes over
``libanontelemetry.so.1``, found through ``$ANON_TELEMETRY_LIB``, else the installed
library, else this checkout's ``build/``.

::

    from anon_telemetry import TelemetryHandler, avg_tokens_per_record

    with TelemetryHandler(source_client_version="1.4.0", session_id="3f2a") as h:
        h.enqueue({"task": "batch", "taskStatus": "completed", ...})
    print(h.uuids, h.last_error)

Nothing is loaded at import time; the handler never raises into its caller.
"""

from ._helpers import (
    NOT_APPLICABLE,
    ModelHostEnum,
    classify_model_host,
    collect_model_hosts,
    sort_join_aliases,
)
from ._native import SpoolError, library_path
from ._spool import TelemetryHandler, spool_events
from ._tokens import avg_tokens_per_record, count_tokens

__all__ = [
    "TelemetryHandler",
    "spool_events",
    "SpoolError",
    "count_tokens",
    "avg_tokens_per_record",
    "ModelHostEnum",
    "classify_model_host",
    "collect_model_hosts",
    "sort_join_aliases",
    "NOT_APPLICABLE",
    "library_path",
]

import logging as _logging

# a library's logger stays silent unless the application configures logging
_logging.getLogger("anon_telemetry").addHandler(_logging.NullHandler())
