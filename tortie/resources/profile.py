"""Profile (resources.md §7)."""

from __future__ import annotations

from .base import Model, Problems, join
from .resource import Resource, SpecOf, label_problems
from .rule import Rule
from .values import Str

NAMESPACE_PROFILE_PREFIX = "kns."


class ProfileSpec(Model):
    ingress: list[Rule] | None = None
    egress: list[Rule] | None = None
    labels_to_apply: dict[str, Str] | None = None

    def problems(self, path: str) -> Problems:
        yield from label_problems(join(path, "labelsToApply"), self.labels_to_apply or {})


class Profile(Resource):
    KIND = "Profile"
    PLURAL = "profiles"
    NAMES = ("profile", "profiles", "pro", "pros")

    spec: SpecOf[ProfileSpec]
