"""Resource errors in calicoctl's words.

Decoding errors follow calicoctl's reading of a file (YAML to JSON, then Go's strict
JSON decoder); validation errors follow libcalico-go's ``ErrorValidation``
(libcalico-go/lib/errors/errors.go): ``error with field <name> = '<value>' (<reason>)``,
one line per field when there are several.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core import shorten, shown


def show_value(value: Any) -> str:
    """A value as it appears in an error: strings raw, numbers and booleans as Go prints them,
    anything else as compact JSON (never a Python repr); line breaks escaped and at most
    MAX_SHOWN characters (limits.py), so that the error stays one short line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = go_float(value)
    else:
        text = shown(_as_data(value))
    return shorten(text.replace("\r", "\\r").replace("\n", "\\n"))


def _as_data(value: Any) -> Any:
    """A decoded API struct (it has ``encode``), or a list of them, as JSON data; anything else
    as it is (``shown`` walks user data lazily, however large)."""
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "encode") and not isinstance(value[0], str):
        return [v.encode() if hasattr(v, "encode") and not isinstance(v, str) else v for v in value]
    encode = getattr(value, "encode", None)
    return encode() if callable(encode) and not isinstance(value, (str, bytes)) else value


def go_float(value: float) -> str:
    """A float64 as Go's ``%v`` prints it: ``100``, ``10.5``, ``1e+06``, ``1e-05``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    from decimal import Decimal  # here, not at the top: a command that prints no float does not load it
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp = len(text) + int(exponent) - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:  # the shortest form switches to an exponent at 1e+06 (strconv, 'g', -1)
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{minus}0.{'0' * (-exp - 1)}{text}"
    whole, frac = text[:exp + 1].ljust(exp + 1, "0"), text[exp + 1:]
    return f"{minus}{whole}{'.' + frac if frac else ''}"


@dataclass(frozen=True)
class FieldError:
    """One failed check: ``name`` is Calico's name for the field (its Go name for the
    validator's checks, its JSON path for the schema's), ``value`` None when not shown."""

    name: str
    value: Any
    reason: str

    def __str__(self) -> str:
        name = shorten(self.name)
        text = name if self.value is None else f"{name} = '{show_value(self.value)}'"
        return f"{text} ({self.reason})" if self.reason else text


class ResourceError(ValueError):
    """Any problem with a resource document; ``str()`` is the message the CLI prints."""


class InvalidParameter(ResourceError):
    """A FelixConfiguration parameter's value that the agent cannot use; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DocumentError(ResourceError):
    """The input is not a resource document at all (not YAML, not a mapping, ...)."""


class DecodeError(ResourceError):
    """A value the decoder cannot take; the CLI prints it after ``failed to execute command: ``."""


class TypeMismatch(DecodeError):
    def __init__(self, path: str, what: str, go_type: str) -> None:
        self.path = path
        super().__init__(f"cannot unmarshal {what} into field {path} of type {go_type}")


class BadValue(DecodeError):
    """A value refused by its type's own decoder (a port, a duration, a time)."""

    def __init__(self, path: str, value: Any, reason: str) -> None:
        self.path = path
        super().__init__(f"error with field {FieldError(path, value, reason)}")


class UnknownFieldError(DecodeError):
    def __init__(self, path: str) -> None:
        self.path = path
        text = shorten(path.replace("\r", "\\r").replace("\n", "\\n"))  # Go quotes the key: one line
        super().__init__(f"field in document is not recognized or is in the wrong location: {text}")


class ValidationError(ResourceError):
    def __init__(self, errors: list[FieldError]) -> None:
        # Calico checks a policy's or tier's labels and annotations twice (validateObjectMeta and
        # validateTier/validate*Policy) and lists each failure twice; tortie lists it once.
        errors = list({str(e): e for e in errors}.values())
        self.errors = errors
        if len(errors) == 1:
            text = f"error with field {errors[0]}"
        else:
            text = "error with the following fields:\n" + "\n".join(f"-  {e}" for e in errors)
        super().__init__(text)


class UnknownKindError(ResourceError):
    def __init__(self, kind: Any, api_version: Any) -> None:
        super().__init__(
            f"unknown resource type ({show_value(kind) if kind is not None else ''}) and/or version "
            f"({show_value(api_version) if api_version is not None else ''})"
        )
