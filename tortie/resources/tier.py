"""Tier (resources.md §6)."""

from __future__ import annotations

from .base import Model, Problems
from .errors import FieldError
from .policy import DEFAULT_TIER
from .resource import Resource, SpecOf
from .values import Number, is_dns_label


class TierSpec(Model):
    order: Number | None = None


class Tier(Resource):
    KIND = "Tier"
    PLURAL = "tiers"
    NAMES = ("tier", "tiers")

    spec: SpecOf[TierSpec]

    def name_problems(self) -> list[FieldError]:
        if not is_dns_label(self.name):
            return [FieldError("metadata.name", self.name,
                               "tier name must be a DNS-1123 label of at most 63 characters")]
        return []

    def problems(self, path: str) -> Problems:
        yield from super().problems(path)
        if self.name == DEFAULT_TIER and self.spec.order is not None:
            yield FieldError("spec.order", self.spec.order, "default tier order must not be set")
