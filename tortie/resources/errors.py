"""Validation errors in calicoctl's wording (resources.md §10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .limits import shorten, shown


@dataclass(frozen=True)
class FieldError:
    path: str
    value: Any
    reason: str

    def __str__(self) -> str:
        return f"{shorten(self.path)} = '{shown(self.value)}' ({self.reason})"


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
        super().__init__(f'unknown field "{shorten(path)}"')


class UnknownKindError(ResourceError):
    def __init__(self, kind: Any, api_version: Any) -> None:
        super().__init__(
            f"Unknown resource type ({shown(kind) if kind is not None else ''}) and/or version "
            f"({shown(api_version) if api_version is not None else ''})"
        )


class DocumentError(ResourceError):
    """The input is not a resource document at all (not YAML, not a mapping, ...)."""
