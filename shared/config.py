"""Typed configuration: small dataclasses, filled from dicts, TOML files and command lines.

Every field of a config dataclass is an option: `from_dict` rejects unknown names and wrong
types with one clear line, `add_arguments` turns the fields into `--kebab-case` flags whose help
is the field's `doc` metadata, and `load_toml` reads one section of a TOML file.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import tomllib
import types
import typing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")


def option(default: Any, doc: str, **kw: Any) -> Any:
    """A dataclass field with a help text (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=partial(copy.deepcopy, default), metadata={"doc": doc}, **kw)
    return dataclasses.field(default=default, metadata={"doc": doc}, **kw)


def _check_value(name: str, tp: Any, value: Any, where: str) -> Any:
    """Coerce `value` to the annotated type `tp` or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_value(name, a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}{name}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(repr(a) for a in typing.get_args(tp))
            raise ConfigError(f"{where}{name}: {value!r} is not one of {choices}")
        return value
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}{name}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_check_value(name, item_tp, v, where) for v in value]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{name}: expected a table of options, got {value!r}")
        return from_dict(tp, value, where=f"{where}{name}.")
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}{name}: expected {tp.__name__}, got {value!r}")
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}{name}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[C], data: dict[str, Any], where: str = "") -> C:
    """Build config `cls` from a plain dict; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a table of options, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown option '{where}{unknown[0]}' (valid: {', '.join(sorted(names))})")
    kwargs = {k: _check_value(k, hints[k], v, where) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or cls.__name__ + ': '}{e}") from None


def check_choices(cfg: Any) -> None:
    """Raise ConfigError when a Literal-typed field of dataclass `cfg` holds a value not allowed."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        if typing.get_origin(hints[f.name]) is typing.Literal:
            _check_value(f.name, hints[f.name], getattr(cfg, f.name), "")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, tables merged key by key."""
    out = dict(base)
    for key, value in override.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = deep_merge(out[key], value) if both else value
    return out


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain JSON/TOML-compatible data."""
    return dataclasses.asdict(cfg)


def config_toml(model: Any, train: Any) -> str:
    """A run's whole configuration: [model] and [train] tables, documented."""
    return to_toml(model, "model") + "\n\n" + to_toml(train, "train") + "\n"


def to_toml(cfg: Any, table: str = "") -> str:
    """A config dataclass as TOML, each option preceded by its documentation; unset options are
    written as comments. Nested configs become tables, lists of configs arrays of tables."""
    scalars, tables = [], []
    for f in dataclasses.fields(cfg):
        value, doc = getattr(cfg, f.name), f.metadata.get("doc", "")
        if dataclasses.is_dataclass(value):
            tables.append(to_toml(value, f"{table}.{f.name}" if table else f.name))
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            name = f"{table}.{f.name}" if table else f.name
            tables += [to_toml(v, name).replace(f"[{name}]", f"[[{name}]]", 1) for v in value]
        else:
            line = f"{f.name} = {_toml_value(value)}" if value is not None else f"# {f.name} = (unset)"
            scalars.append((f"# {doc}\n" if doc else "") + line)
    head = f"[{table}]\n" if table else ""
    return "\n\n".join(part for part in [head + "\n".join(scalars), *tables] if part.strip())


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def load_toml(path: str | Path, section: str | None = None) -> dict[str, Any]:
    """Read a TOML file (optionally one top-level table of it) with one-line errors."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    if section is None:
        return data
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [{section}] must be a table")
    return table


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """Add one `--flag` per scalar/list field of `cls`; defaults stay None so TOML can fill in."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} options (also settable in the TOML config)")
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.name in skip or dataclasses.is_dataclass(tp):
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        doc = f.metadata.get("doc", "")
        help_ = f"{doc} (default: {default})".replace("%", "%%")
        base = tp
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            base = next(a for a in typing.get_args(tp) if a is not type(None))
        if base is bool:
            group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif typing.get_origin(base) is typing.Literal:
            group.add_argument(_flag(f.name), choices=typing.get_args(base), default=None, help=help_)
        elif typing.get_origin(base) in (list, tuple):
            (item,) = typing.get_args(base)[:1] or (str,)
            group.add_argument(_flag(f.name), type=item, nargs="+", default=None, help=help_)
        else:
            group.add_argument(_flag(f.name), type=base if base in (int, float, str) else str, default=None, help=help_)


def resolve(
    cls: type[C], args: argparse.Namespace | None = None, toml: dict[str, Any] | None = None, where: str = ""
) -> C:
    """Defaults < TOML table < command-line flags, validated through `from_dict`."""
    data = dict(toml or {})
    if args is not None:
        for f in dataclasses.fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                data[f.name] = value
    return from_dict(cls, data, where=where)
