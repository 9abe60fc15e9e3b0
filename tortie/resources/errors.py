"""Validation errors in calicoctl's wording (resources.md §10)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def show_value(value: Any) -> str:
    """A value as it appears in an error: strings raw, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


@dataclass(frozen=True)
class FieldError:
    path: str
    value: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.path} = '{show_value(self.value)}' ({self.reason})"


class ResourceError(ValueError):
    """Any problem with a resource document; ``str()`` is the message the CLI prints."""


class ValidationError(ResourceError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        if len(errors) == 1:
            text = f"error with field {errors[0]}"
        else:
            text = "error with the following fields:\n" + "\n".join(f"-  {e}" for e in errors)
        super().__init__(text)


class UnknownFieldError(ResourceError):
    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f'unknown field "{path}"')


class UnknownKindError(ResourceError):
    def __init__(self, kind: Any, api_version: Any) -> None:
        super().__init__(
            f"Unknown resource type ({show_value(kind) if kind is not None else ''}) and/or version "
            f"({show_value(api_version) if api_version is not None else ''})"
        )


class DocumentError(ResourceError):
    """The input is not a resource document at all (not YAML, not a mapping, ...)."""
