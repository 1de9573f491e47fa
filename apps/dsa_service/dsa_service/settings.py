"""Typed settings from prefixed environment variables (12-factor).

A service declares a dataclass whose field defaults give each setting's type; ``load`` reads
``PREFIX + FIELD_NAME.upper()`` for every field, lets a mapping of overrides win (keys with or
without the prefix, any case: the tests use it) and converts the text by the default's type:

    bool   1/true/yes/on or 0/false/no/off/empty     int, float   a number
    list   comma-separated, blanks dropped            str          as is

A bad value or an unknown override raises ``ValueError`` naming the variable.
"""
import os
from dataclasses import fields

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def parse_bool(value: str) -> bool:
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def parse_list(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


def _convert(variable: str, value, default):
    if isinstance(default, bool):
        if not isinstance(value, str):
            return value
        try:
            return parse_bool(value)
        except ValueError:
            raise ValueError(f"{variable} must be a boolean (true/false, yes/no, on/off, 1/0),"
                             f" got {value!r}") from None
    if isinstance(default, (int, float)):
        try:
            return float(value) if isinstance(default, float) else int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{variable} must be a number, got {value!r}") from None
    if isinstance(default, list):
        return parse_list(value) if isinstance(value, str) else list(value)
    return value if isinstance(value, str) else str(value)


def load(cls, prefix: str, overrides: dict | None = None, environ=None):
    """An instance of the dataclass ``cls`` from ``environ`` (default os.environ) and ``overrides``."""
    environ = os.environ if environ is None else environ
    names = {f.name for f in fields(cls)}
    values: dict = {}
    for name in names:
        raw = environ.get(prefix + name.upper())
        if raw is not None:
            values[name] = raw
    for key, value in (overrides or {}).items():
        name = key.lower()
        if name.startswith(prefix.lower()):
            name = name[len(prefix):]
        if name not in names:
            raise ValueError(f"unknown setting {prefix}{name.upper()}")
        values[name] = value
    settings = cls()
    for f in fields(cls):
        if f.name in values:
            variable = prefix + f.name.upper()
            setattr(settings, f.name, _convert(variable, values[f.name], getattr(settings, f.name)))
    return settings
