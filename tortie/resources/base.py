"""Base models: strict loading, output form, and error conversion.

Validation runs in two steps. pydantic checks structure, types and single fields
(unknown keys are errors); then ``problems()`` walks the model for the checks that
involve several fields, each reported with its dotted path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, ClassVar, Iterator, get_args

import pydantic
from pydantic import BaseModel, ConfigDict, model_serializer
from pydantic.alias_generators import to_camel

from .errors import FieldError, UnknownFieldError, ValidationError

Problems = Iterator[FieldError]


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value == "" or (isinstance(value, (list, dict)) and not value)


class Model(BaseModel):
    """A strict v3 object. Unset optional fields, false and empty values print as absent."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        # Validators are built on a model's first use, not at import: a `tortie get` uses none.
        defer_build=True,
    )
    # Pointer-valued structs (FelixConfiguration) print false and [] when they are set.
    keep_false_and_empty: ClassVar[bool] = False

    @model_serializer(mode="wrap")
    def _output_form(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        data = handler(self)
        if self.keep_false_and_empty:
            return {k: v for k, v in data.items() if v is not None}
        return {k: v for k, v in data.items() if not _is_empty(v)}

    def problems(self, path: str) -> Problems:
        """Checks across fields of this object. Nested models are walked by ``all_problems``."""
        return iter(())

    def all_problems(self, path: str = "") -> list[FieldError]:
        found = list(self.problems(path))
        for name, alias in _nested_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Model):
                found += value.all_problems(join(path, alias))
            elif isinstance(value, list):
                at = join(path, alias)
                for i, item in enumerate(value):
                    found += item.all_problems(join(at, i))
        return found

    def output(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


@lru_cache(maxsize=None)
def _nested_fields(cls: type[Model]) -> tuple[tuple[str, str], ...]:
    """(attribute, alias) of the fields of ``cls`` that hold a model or a list of models."""
    def holds_model(annotation: Any) -> bool:
        if isinstance(annotation, type) and issubclass(annotation, Model):
            return True
        return any(holds_model(arg) for arg in get_args(annotation))
    return tuple((name, field.alias or name) for name, field in cls.model_fields.items()
                 if holds_model(field.annotation))


_TYPE_REASONS = {
    "string_type": "must be a string",
    "bool_type": "must be a boolean",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be a map",
    "model_type": "must be a map",
    "model_attributes_type": "must be a map",
    "missing": "field is required",
}


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        path = join(path, part)
    return path


def convert_errors(exc: pydantic.ValidationError) -> UnknownFieldError | ValidationError:
    """pydantic's errors in calicoctl's wording; an unknown field wins over the rest."""
    errors = exc.errors(include_url=False)
    for err in errors:
        if err["type"] == "extra_forbidden":
            return UnknownFieldError(_loc_path(err["loc"]))
    found = []
    for err in errors:
        kind = err["type"]
        if kind == "tortie":
            reason = err["ctx"]["reason"]
        else:
            reason = _TYPE_REASONS.get(kind, err["msg"])
        value = "" if kind == "missing" else err["input"]
        found.append(FieldError(_loc_path(err["loc"]), value, reason))
    return ValidationError(found)
