"""Models shaped like the Anonymizer's AnonymizerEvent (aliases, str enums, defaults,
population by field name), for pydantic 1 (Debian 12's python3-pydantic, or the
pydantic.v1 that pydantic 2 carries) and, where it is installed, pydantic 2; and a
stand-in for a pydantic 2 model (an object with model_dump) that needs no pydantic."""

from __future__ import annotations

import enum
import os
from typing import Any, Dict, List, Tuple

from support import FIELDS


class NemoSourceEnum(str, enum.Enum):
    ANONYMIZER = "anonymizer"
    UNDEFINED = "undefined"


class TaskEnum(str, enum.Enum):
    BATCH = "batch"
    PREVIEW = "preview"


class TaskStatusEnum(str, enum.Enum):
    COMPLETED = "completed"
    ERROR = "error"
    CANCELED = "canceled"


class DeploymentTypeEnum(str, enum.Enum):
    CLI = "cli"
    SDK = "sdk"
    NMP = "nmp"
    UNDEFINED = "undefined"


ENUMS = {"nemoSource": NemoSourceEnum, "task": TaskEnum, "taskStatus": TaskStatusEnum,
         "deploymentType": DeploymentTypeEnum}


def _deployment_type() -> DeploymentTypeEnum:
    v = os.environ.get("NEMO_DEPLOYMENT_TYPE")
    if v is None:
        return DeploymentTypeEnum.SDK
    try:
        return DeploymentTypeEnum(v.lower())
    except ValueError:
        return DeploymentTypeEnum.UNDEFINED


def _field_types() -> List[Tuple[str, str, Any, Any]]:
    """(snake name, alias, type, default or ... for required)."""
    out = []
    for alias, name, default in FIELDS:
        if alias in ENUMS:
            t: Any = ENUMS[alias]
            d: Any = ... if default is None else ENUMS[alias](default)
        elif isinstance(default, bool):
            t, d = bool, default
        elif isinstance(default, float):
            t, d = float, default
        elif isinstance(default, int):
            t, d = int, default
        elif isinstance(default, list):
            t, d = List[str], default
        else:
            t, d = str, ... if default is None else default
        out.append((name, alias, t, d))
    return out


def pydantic_v1() -> Any:
    """The pydantic 1 API: pydantic itself when it is version 1, else pydantic.v1.
    Raises ImportError (naming the Debian package) when neither is there."""
    try:
        import pydantic
    except ImportError as e:
        raise ImportError("pydantic is missing: install python3-pydantic "
                          "(scripts/install-deps.sh does)") from e
    if pydantic.VERSION.startswith("1."):
        return pydantic
    from pydantic import v1
    return v1


def pydantic_v2() -> Any:
    """pydantic when the installed one is version 2 or newer, else None."""
    try:
        import pydantic
    except ImportError:
        return None
    return None if pydantic.VERSION.startswith("1.") else pydantic


def v1_model() -> Any:
    p = pydantic_v1()
    fields: Dict[str, Any] = {}
    for name, alias, t, d in _field_types():
        if name == "deployment_type":
            fields[name] = (t, p.Field(default_factory=_deployment_type, alias=alias))
        else:
            fields[name] = (t, p.Field(d, alias=alias))

    class Config:
        allow_population_by_field_name = True

    return p.create_model("AnonymizerEventV1", __config__=Config, **fields)


def v2_model() -> Any:
    p = pydantic_v2()
    if p is None:
        return None
    fields: Dict[str, Any] = {}
    for name, alias, t, d in _field_types():
        if name == "deployment_type":
            fields[name] = (t, p.Field(default_factory=_deployment_type, alias=alias))
        else:
            fields[name] = (t, p.Field(d, alias=alias))
    return p.create_model("AnonymizerEventV2", __config__=p.ConfigDict(populate_by_name=True),
                          **fields)


class StandIn:
    """Quacks like a pydantic 2 model: model_dump(by_alias=..., mode=...) and nothing
    else; remembers how it was called."""

    def __init__(self, dump: Dict[str, Any]) -> None:
        self._dump = dump
        self.calls: List[Dict[str, Any]] = []

    def model_dump(self, *, by_alias: bool = False, mode: str = "python") -> Dict[str, Any]:
        self.calls.append({"by_alias": by_alias, "mode": mode})
        if not by_alias or mode != "json":
            raise AssertionError("model_dump called with by_alias=%r, mode=%r"
                                 % (by_alias, mode))
        return dict(self._dump)
