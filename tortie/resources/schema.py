"""Go's encoding/json as calicoctl applies it to v3 resources, and the checks that follow.

calicoctl turns YAML into JSON with sorted keys and decodes that strictly into Go structs
(calicoctl/calicoctl/resourcemgr/resourcemgr.go, sigs.k8s.io/yaml ``UnmarshalStrict``):

* a key matches a field by its exact JSON name or, failing that, case-insensitively
  (so ``Order``, ``Ingress`` and ``ICMP`` work);
* an unknown key or a value of the wrong JSON type is noted and decoding goes on; the
  first such problem in key order is the one reported;
* a value that a type's own decoder refuses (a port range, a duration, a time) stops
  decoding at once and is reported instead.

A struct is a dataclass whose fields carry their JSON name, Go name, type and ``omitempty``
behaviour (``field()``). ``encode()`` is ``json.Marshal``: optional fields are left out when
zero (pointer fields only when unset), the others are always printed.

Validation has the two halves of libcalico-go's ``Validate`` (validator/v3/validator.go):
each struct's ``check`` reports the validator's field and struct rules under Calico's Go
field names, then the CRD schema rules (OpenAPI constraints and CEL rules of
api/config/crd) under JSON paths; ``Checker`` collects both, in that order.
"""

from __future__ import annotations

import math

import dataclasses
import enum
import operator
import re
from functools import lru_cache
from typing import Any, Callable, ClassVar, Iterable, TypeVar, dataclass_transform

from .duration import DurationError, format_duration, parse_go_duration
from .errors import BadValue, DecodeError, FieldError, TypeMismatch, UnknownFieldError

Key = str | int


def join(at: str, key: Key) -> str:
    if isinstance(key, int):
        return f"{at}[{key}]"
    return f"{at}.{key}" if at else key


def json_kind(value: Any) -> str:
    """The JSON type of a value, as Go's decoder names it in a type error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


class Decoder:
    """The state of one decode: the first non-fatal problem seen."""

    __slots__ = ("saved",)

    def __init__(self) -> None:
        self.saved: DecodeError | None = None

    def save(self, error: DecodeError) -> None:
        if self.saved is None:
            self.saved = error

    def mismatch(self, value: Any, at: str, key: Key, go_type: str) -> None:
        self.save(TypeMismatch(join(at, key), json_kind(value), go_type))


# --- value types ---------------------------------------------------------------------

class GoType:
    """How one Go type reads JSON and prints it back."""

    go = "object"
    zero: Any = None  # what json.Marshal prints for an unset field that is not omitempty

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        return value


class _String(GoType):
    go = "string"
    zero = ""

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is str or value is None:
            return value
        d.mismatch(value, at, key, self.go)
        return None


class _Bool(GoType):
    go = "bool"
    zero = False

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is bool or value is None:
            return value
        d.mismatch(value, at, key, self.go)
        return None


class Int(GoType):
    """A Go integer type; a number out of its range or with a fraction is a type error."""

    zero = 0

    def __init__(self, go: str, lo: int, hi: int) -> None:
        self.go, self.lo, self.hi = go, lo, hi

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is int and self.lo <= value <= self.hi:
            return value
        if value is None:
            return None
        if type(value) is float and value.is_integer() and self.lo <= value <= self.hi:
            return int(value)
        if type(value) in (int, float):
            d.save(TypeMismatch(join(at, key), f"number {_number_text(value)}", self.go))
        else:
            d.mismatch(value, at, key, self.go)
        return None


def _number_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) or not value.is_integer() else str(int(value))


class _Float(GoType):
    go = "float64"
    zero = 0

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if value is None:
            return None
        if type(value) in (int, float):
            try:
                number = float(value)  # what Go's float64 holds: a large integer rounds
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                d.save(TypeMismatch(join(at, key), "NaN" if math.isnan(number) else "number out of range", self.go))
                return None
            # Go's encoding/json writes a float64 under 1e21 without exponent or fraction when it
            # is whole (encode.go floatEncoder): kept as an int, it is written the same way.
            return int(number) if number.is_integer() and abs(number) < 1e21 else number
        d.mismatch(value, at, key, self.go)
        return None


class _Duration(GoType):
    """metav1.Duration: Go's duration syntax in, ``time.Duration.String()`` out."""

    go = "string"
    zero = "0s"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if value is None:
            return None
        if type(value) is not str:
            raise TypeMismatch(join(at, key), json_kind(value), "string")
        try:
            return format_duration(parse_go_duration(value))
        except DurationError:
            raise BadValue(join(at, key), value, f'time: invalid duration "{value}"') from None


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


class _Time(GoType):
    """metav1.Time: an RFC 3339 time or null. calicoctl reads it and then drops it."""

    go = "string"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if value is None:
            return None
        if type(value) is not str:
            raise TypeMismatch(join(at, key), json_kind(value), "string")
        if not _RFC3339.fullmatch(value):
            raise BadValue(join(at, key), value, "not an RFC 3339 time such as 2006-01-02T15:04:05Z")
        return value


class _Uint8OrString(GoType):
    """numorstring.Protocol and DSCP: a string of digits 0-255 reads as that number."""

    go = "uint8"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is str:
            return int(value) if value.isascii() and value.isdigit() and int(value) <= 255 else value
        if type(value) is int and 0 <= value <= 255:
            return value
        if value is None:
            return 0
        if type(value) is float and value.is_integer() and 0 <= value <= 255:
            return int(value)
        what = f"number {_number_text(value)}" if type(value) in (int, float) else json_kind(value)
        raise TypeMismatch(join(at, key), what, self.go)


_PORT_RANGE = re.compile(r"([0-9]+):([0-9]+)")
_PORT_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,128}")


class _Port(GoType):
    """numorstring.Port: a number, ``"a:b"`` or a name. A range of one port prints as the
    number; the port numbers themselves are checked later (validatePort)."""

    go = "uint16"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is str:
            return self._from_text(value, join(at, key))
        if type(value) is int and 0 <= value <= 65535:
            return value
        if value is None:
            return 0
        if type(value) is float and value.is_integer() and 0 <= value <= 65535:
            return int(value)
        what = f"number {_number_text(value)}" if type(value) in (int, float) else json_kind(value)
        raise TypeMismatch(join(at, key), what, self.go)

    @staticmethod
    def _from_text(text: str, path: str) -> int | str:
        if text.isascii() and text.isdigit():
            if int(text) > 65535:
                raise BadValue(path, text, f"invalid port format ({text})")
            return int(text)
        m = _PORT_RANGE.fullmatch(text)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > 65535:
                raise BadValue(path, text, f"invalid minimum port number in range ({text})")
            if hi > 65535:
                raise BadValue(path, text, f"invalid maximum port number in range ({text})")
            if lo > hi:
                raise BadValue(path, text, f"minimum port number ({lo}) is greater than maximum port number "
                                           f"({hi}) in port range")
            return lo if lo == hi else f"{lo}:{hi}"
        if not _PORT_NAME.fullmatch(text):
            raise BadValue(path, text, f"invalid name for named port ({text})")
        return text


class _Raw(GoType):
    """Any JSON (managedFields' fieldsV1)."""

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        return value


STRING: GoType = _String()
BOOL: GoType = _Bool()
INT: GoType = Int("int", -(2**63), 2**63 - 1)
INT64: GoType = Int("int64", -(2**63), 2**63 - 1)
UINT16: GoType = Int("uint16", 0, 2**16 - 1)
UINT32: GoType = Int("uint32", 0, 2**32 - 1)
FLOAT: GoType = _Float()
DURATION: GoType = _Duration()
TIME: GoType = _Time()
UINT8_OR_STRING: GoType = _Uint8OrString()
PORT: GoType = _Port()
RAW: GoType = _Raw()


class List(GoType):
    go = "array"

    def __init__(self, item: GoType) -> None:
        self.item = item
        self.go = f"[]{item.go}"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is list:
            path = join(at, key)
            item = self.item
            return [item.decode(v, path, i, d) for i, v in enumerate(value)]
        if value is not None:
            d.mismatch(value, at, key, self.go)
        return None

    def encode(self, value: Any) -> Any:
        item = self.item
        if type(item) in (_String, _Port, _Uint8OrString, _Bool, Int, _Float):
            return list(value)
        return [item.encode(v) for v in value]


class Map(GoType):
    """map[string]V; keys that YAML read as other types become their text, as in JSON."""

    def __init__(self, value: GoType) -> None:
        self.value = value
        self.go = f"map[string]{value.go}"

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        if type(value) is dict:
            path = join(at, key)
            item = self.value
            return {k if type(k) is str else key_text(k): item.decode(v, path, k if type(k) is str else key_text(k), d)
                    for k, v in value.items()}
        if value is not None:
            d.mismatch(value, at, key, self.go)
        return None

    def encode(self, value: Any) -> Any:
        return dict(value)


def key_text(key: Any) -> str:
    """A YAML mapping key that is not a string, as JSON must spell it."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


# --- structs -------------------------------------------------------------------------

class Omit(enum.Enum):
    NEVER = "never"          # always printed, zero value when unset
    EMPTY = "omitempty"      # left out when zero: "", 0, false, empty list or map, nil
    POINTER = "pointer"      # a pointer with omitempty: left out only when unset
    ZERO = "omitzero"        # a struct left out when all its fields are zero


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    json: str
    type: GoType
    go: str
    omit: Omit
    attr: str = ""


def field(json: str, type_: GoType | type[Struct], *, go: str = "", omit: Omit = Omit.EMPTY) -> Any:
    """A struct field: its JSON name, type, Go name (default: the JSON name capitalised)."""
    gotype = StructType(type_) if isinstance(type_, type) else type_
    info = FieldInfo(json, gotype, go or json[:1].upper() + json[1:], omit)
    return dataclasses.field(default=None, metadata={"go": info})


S = TypeVar("S", bound="Struct")
T = TypeVar("T")


@dataclass_transform(field_specifiers=(dataclasses.field,))
def struct(cls: type[T]) -> type[T]:
    """The dataclass decorator of the API structs: slots, and Struct's own ``==`` and repr.
    Those that dataclasses would write for each of the ~40 structs take milliseconds to
    compile at import, which every command pays (bench/cli.py); Struct's behave the same."""
    return dataclasses.dataclass(slots=True, repr=False, eq=False)(cls)


class Struct:
    """Base of the API structs (``@struct`` dataclasses with ``field()`` fields)."""

    __slots__ = ()
    GO: ClassVar[str] = ""  # the Go struct name, for decode errors
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # every subclass is a dataclass

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        values = _values(type(self))
        return bool(values(self) == values(other))

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{type(self).__qualname__}({fields})"

    @classmethod
    def fields_info(cls) -> tuple[FieldInfo, ...]:
        return _fields_info(cls)

    @classmethod
    def decode(cls: type[S], value: Any, at: str, key: Key, d: Decoder) -> S | None:
        if type(value) is not dict:
            if value is not None:
                d.mismatch(value, at, key, cls.GO or cls.__name__)
            return None
        path = join(at, key)
        exact, folded = _lookup(cls)
        args: dict[str, Any] = {}
        for name in _sorted_keys(value):
            info = exact.get(name) if type(name) is str else None
            if info is None:
                text = name if type(name) is str else key_text(name)
                info = folded.get(text.lower())
                if info is None:
                    d.save(UnknownFieldError(join(path, text)))
                    continue
            raw = value[name]
            # A JSON null leaves a pointer unset.
            v = None if raw is None and info.omit is Omit.POINTER else info.type.decode(raw, path, info.json, d)
            # An empty string in an omitempty field is the same as none (Go cannot tell them apart).
            args[info.attr] = None if v == "" and info.omit is Omit.EMPTY else v
        return cls(**args)

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for info in _fields_info(type(self)):
            v = getattr(self, info.attr)
            omit = info.omit
            if v is None:
                if omit is Omit.NEVER:
                    out[info.json] = info.type.zero
                continue
            if omit is Omit.EMPTY and (v == "" or v is False or (type(v) is int and v == 0) or v == []
                                       or v == {} or type(v) is float and v == 0):
                continue
            value = info.type.encode(v)
            if omit is Omit.ZERO and value == {}:
                continue
            out[info.json] = value
        return out

    def check(self, c: Checker, at: str) -> None:
        """The validator's and the CRD's rules for this struct (fields included)."""


def _sorted_keys(value: dict[Any, Any]) -> Iterable[Any]:
    try:
        return sorted(value)
    except TypeError:
        return sorted(value, key=lambda k: k if type(k) is str else key_text(k))


_FIELDS: dict[type[Struct], tuple[FieldInfo, ...]] = {}
_LOOKUP: dict[type[Struct], tuple[dict[str, FieldInfo], dict[str, FieldInfo]]] = {}


def _fields_info(cls: type[Struct]) -> tuple[FieldInfo, ...]:
    infos = _FIELDS.get(cls)
    if infos is None:
        infos = _FIELDS[cls] = tuple(dataclasses.replace(f.metadata["go"], attr=f.name)
                                     for f in dataclasses.fields(cls))
    return infos


_VALUES: dict[type[Struct], Callable[[Any], Any]] = {}


def _values(cls: type[Struct]) -> Callable[[Any], Any]:
    """A struct's field values as one comparable value (a tuple), fetched in C."""
    values = _VALUES.get(cls)
    if values is None:
        names = [f.name for f in dataclasses.fields(cls)]
        values = _VALUES[cls] = operator.attrgetter(*names) if names else _no_fields
    return values


def _no_fields(_: Any) -> tuple[()]:
    return ()


def _lookup(cls: type[Struct]) -> tuple[dict[str, FieldInfo], dict[str, FieldInfo]]:
    """A struct's fields by exact JSON name, and by the name in lower case."""
    found = _LOOKUP.get(cls)
    if found is None:
        infos = _fields_info(cls)
        found = _LOOKUP[cls] = ({i.json: i for i in infos}, {i.json.lower(): i for i in infos})
    return found


class StructType(GoType):
    def __init__(self, cls: type[Struct]) -> None:
        self.cls = cls
        self.go = cls.GO or cls.__name__
        self.zero = {}

    def decode(self, value: Any, at: str, key: Key, d: Decoder) -> Any:
        return self.cls.decode(value, at, key, d)

    def encode(self, value: Any) -> Any:
        return value.encode()


def decode(cls: type[S], value: Any, at: str = "") -> S:
    """Decode a document into ``cls``. Raises the DecodeError calicoctl would report."""
    d = Decoder()
    out = cls.decode(value, "", at, d)
    if d.saved is not None:
        raise d.saved
    if out is None:
        raise TypeMismatch(at or "(document)", json_kind(value), cls.GO or cls.__name__)
    return out


# --- validation ------------------------------------------------------------------------

class Checker:
    """Collects the validator's errors, then the CRD schema's (libcalico-go ``Validate``)."""

    __slots__ = ("validator", "crd")

    def __init__(self) -> None:
        self.validator: list[FieldError] = []
        self.crd: list[FieldError] = []

    def error(self, name: str, value: Any, reason: str) -> None:
        """A validator error: ``name`` is Calico's (Go) name for the field."""
        self.validator.append(FieldError(name, value, reason))

    def tag(self, name: str, value: Any, tag: str) -> None:
        """A failed validator tag, which Calico reports without a reason of its own."""
        reason = f"Reason: failed to validate Field: {name} because of Tag: {tag} "
        self.validator.append(FieldError(name, value, reason))

    def schema(self, path: str, reason: str) -> None:
        """A CRD schema or CEL error at a JSON path."""
        self.crd.append(FieldError(path, None, reason))

    # --- the CRD's OpenAPI constraints, in the words of the Kubernetes API server

    def pattern(self, path: str, value: str | None, regex: str) -> None:
        if value is not None and not go_regex(regex).search(value):
            self.schema(path, f"{path} in body should match '{regex}'")

    def enum(self, path: str, value: Any, choices: tuple[Any, ...]) -> None:
        if value is not None and value not in choices:
            self.schema(path, "Unsupported value: " + _quoted(value) + ": supported values: "
                        + ", ".join(_quoted(c) for c in choices))

    def minimum(self, path: str, value: int | float | None, lo: int | float) -> None:
        if value is not None and value < lo:
            self.schema(path, f"{path} in body should be greater than or equal to {lo}")

    def maximum(self, path: str, value: int | float | None, hi: int | float) -> None:
        if value is not None and value > hi:
            self.schema(path, f"{path} in body should be less than or equal to {hi}")

    def max_length(self, path: str, value: str | None, n: int) -> None:
        if value is not None and len(value) > n:
            self.schema(path, f"{path} in body should be at most {n} chars long")

    def max_items(self, path: str, value: list[Any] | None, n: int) -> None:
        if value is not None and len(value) > n:
            self.schema(path, f"{path} in body should have at most {n} items")

    def errors(self) -> list[FieldError]:
        return self.validator + self.crd


@lru_cache(maxsize=None)
def go_regex(regex: str) -> re.Pattern[str]:
    """A CRD pattern compiled to match as Go's regexp does: ``(?i)`` may come anywhere,
    ``$`` is the end of the text, ``\\d`` is ASCII."""
    python = "(?i)" + regex.replace("(?i)", "") if "(?i)" in regex else regex
    return re.compile(python[:-1] + "\\Z" if python.endswith("$") else python, re.ASCII)


def _quoted(value: Any) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(value, str) else str(value)


def check_all(c: Checker, structs: Iterable[Struct | None], at: str) -> None:
    """``check`` each struct of a list (validator ``dive``), at ``at[i]``."""
    for i, s in enumerate(structs):
        if s is not None:
            s.check(c, join(at, i))

