"""Op configs as written in recipes, validated by pydantic models generated from each op's constructor.

Why generated: the constructor signature is the single source of truth for an op's options, so a new op is
configurable the day it is added, and an unknown or misspelt key is an error (``extra="forbid"``) instead of a
silently ignored setting. Form::

    ops:
      - {op: Rotate, angle: [-10, 10], p: 0.5}
      - {op: OneOf, ops: [{op: GaussianBlur, radius: {choices: [5, 15, 30]}}, {op: MotionBlur, length: 9}]}
      - {op: ClassConditional, pipelines: {iris: [{op: Contrast, factor: 0.5}]}}

Container fields hold op configs: ``ops`` (a list), ``pipelines`` (label -> an op or a list of ops, a list meaning
a Compose), ``default`` (an op or a list).
"""

from __future__ import annotations

import inspect
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from fakevision.augment import compose, crops, geometric, landmark, nonrigid, photometric
from fakevision.augment.base import Transform

OPS: dict[str, type[Transform]] = {
    cls.__name__: cls
    for mod in (geometric, crops, nonrigid, landmark, photometric, compose)
    for cls in vars(mod).values()
    if isinstance(cls, type) and issubclass(cls, Transform) and cls.__module__ == mod.__name__
    and not cls.__name__.startswith("_") and cls.__name__ not in ("GeometricTransform", "DenseTransform")
}

_CONTAINER_FIELDS = {"ops": "list", "pipelines": "map", "default": "one"}


@cache
def op_model(name: str) -> type[BaseModel]:
    """The pydantic model of op ``name``'s options (its constructor arguments, types and defaults)."""
    cls = OPS[name]
    hints = typing.get_type_hints(cls.__init__)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(cls.__init__).parameters.items():
        if pname == "self":
            continue
        if pname in _CONTAINER_FIELDS:
            kind = _CONTAINER_FIELDS[pname]
            ann: Any = {"list": list[Any], "map": dict[str, Any], "one": Any}[kind]
        else:
            ann = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (ann, default)
    return create_model(f"{name}Config", __config__=ConfigDict(extra="forbid"), **fields)


def _pipeline(value: Any, where: str) -> Transform:
    if isinstance(value, list):
        return compose.Compose([build_op(v, f"{where}.{i}") for i, v in enumerate(value)])
    return build_op(value, where)


def build_op(config: Any, where: str = "op") -> Transform:
    """Validate one op config (a dict with ``op``) and build the transform; errors name the key path.

    >>> build_op({"op": "Rotate", "angle": [-5, 5], "p": 0.5})
    Rotate(p=0.5)
    >>> build_op({"op": "Rotate", "angel": 5})
    Traceback (most recent call last):
    ...
    ValueError: op: Rotate: angel: Extra inputs are not permitted
    """
    if not isinstance(config, dict) or "op" not in config:
        raise ValueError(f"{where}: expected a mapping with an 'op' key, got {config!r}")
    name = config["op"]
    if name not in OPS:
        raise ValueError(f"{where}: unknown op {name!r}; known: {', '.join(sorted(OPS))}")
    options = {k: v for k, v in config.items() if k != "op"}
    try:
        validated = op_model(name).model_validate(options)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"{where}: {name}: {loc}: {err['msg']}") from None
    kwargs = {k: getattr(validated, k) for k in type(validated).model_fields}
    if "ops" in kwargs and name in ("Compose", "OneOf", "SomeOf"):
        kwargs["ops"] = [build_op(v, f"{where}.ops.{i}") for i, v in enumerate(kwargs["ops"])]
    if name == "ClassConditional":
        kwargs["pipelines"] = {str(k): _pipeline(v, f"{where}.pipelines.{k}") for k, v in kwargs["pipelines"].items()}
        if kwargs.get("default") is not None:
            kwargs["default"] = _pipeline(kwargs["default"], f"{where}.default")
    try:
        return OPS[name](**kwargs)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {name}: {e}") from None


def build_pipeline(ops: list[Any], where: str = "ops") -> Transform:
    """A list of op configs -> one ``Compose``.

    >>> build_pipeline([{"op": "HorizontalFlip"}, {"op": "GaussianNoise", "variance": {"choices": [40, 70, 100]}}])
    Compose([HorizontalFlip(p=0.5), GaussianNoise(p=1.0)], p=1.0)
    """
    if not isinstance(ops, list) or not ops:
        raise ValueError(f"{where}: expected a non-empty list of op configs")
    return compose.Compose([build_op(v, f"{where}.{i}") for i, v in enumerate(ops)])
