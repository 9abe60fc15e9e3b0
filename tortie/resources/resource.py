"""The resource envelope (apiVersion, kind, metadata, spec) and metadata rules."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

import pydantic
from pydantic import BeforeValidator, Field

from .base import Model, Problems, convert_errors, join
from .errors import FieldError, ResourceError, ValidationError
from .values import Str, is_dns_label, is_dns_subdomain, label_key_problem, label_value_problem

API_VERSION = "projectcalico.org/v3"
ANNOTATIONS_MAX = 262144

NAMESPACE_LABEL = "projectcalico.org/namespace"
ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"
TIER_LABEL = "projectcalico.org/tier"


def _resource_version(value: Any) -> Any:
    # A YAML integer is a common hand edit; it means the same revision.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def label_problems(path: str, labels: dict[str, str]) -> Problems:
    """Key and value rules of resources.md §3 for one label map."""
    for key, value in labels.items():
        reason = label_key_problem(key)
        if reason:
            yield FieldError(path, key, reason)
        elif key.rpartition("/")[2].startswith("pcns."):
            yield FieldError(path, key, "label keys whose name starts with pcns. are reserved")
        else:
            reason = label_value_problem(value)
            if reason:
                yield FieldError(join(path, key), value, reason)


class Metadata(Model):
    name: Str
    namespace: Str | None = None
    labels: dict[str, Str] | None = None
    annotations: dict[str, Str] | None = None
    resource_version: Annotated[Str | None, BeforeValidator(_resource_version)] = None
    uid: Str | None = None
    creation_timestamp: Str | None = None

    def problems(self, path: str) -> Problems:
        if self.namespace is not None and not is_dns_label(self.namespace):
            yield FieldError(join(path, "namespace"), self.namespace,
                             "namespace must be a DNS-1123 label of at most 63 characters")
        yield from label_problems(join(path, "labels"), self.labels or {})
        at = join(path, "annotations")
        annotations = self.annotations or {}
        for key in annotations:
            reason = label_key_problem(key)
            if reason:
                yield FieldError(at, key, reason.replace("label", "annotation", 1))
        size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
        if size > ANNOTATIONS_MAX:
            yield FieldError(at, f"{size} bytes", f"annotations must not exceed {ANNOTATIONS_MAX} bytes")


def _empty_spec(value: Any) -> Any:
    return {} if value is None else value


S = TypeVar("S", bound=Model)
# A spec that may be omitted or null, which means {} (resources.md §1).
SpecOf = Annotated[S, BeforeValidator(_empty_spec)]


class Resource(Model):
    """One v3 resource. Subclasses set the class constants and the ``spec`` type."""

    KIND: ClassVar[str]
    NAMESPACED: ClassVar[bool] = False
    PLURAL: ClassVar[str]
    NAMES: ClassVar[tuple[str, ...]]  # CLI names, lower case

    api_version: Str = Field(alias="apiVersion")
    kind: Str
    metadata: Metadata
    spec: Any

    # --- construction -----------------------------------------------------------

    @classmethod
    def load(cls, doc: dict[str, Any]) -> Resource:
        """Validate one document completely. Raises ResourceError with the CLI's text."""
        if not cls.NAMESPACED and isinstance(doc.get("metadata"), dict) and "namespace" in doc["metadata"]:
            raise ResourceError(
                "namespace should not be specified for a non-namespaced resource. "
                f"{cls.KIND} is not a namespaced resource")
        doc = {"spec": {}, **doc}
        try:
            resource = cls.model_validate(doc)
        except pydantic.ValidationError as exc:
            raise convert_errors(exc) from None
        problems = resource.all_problems()
        problems += resource.name_problems()
        if problems:
            raise ValidationError(problems)
        resource.fill_server_fields()
        return resource

    # --- per-kind rules ---------------------------------------------------------

    def name_problems(self) -> list[FieldError]:
        name = self.metadata.name
        if not is_dns_subdomain(name):
            return [FieldError("metadata.name", name,
                               "name must be a DNS-1123 subdomain: lower-case letters, digits, '-' "
                               "and '.', each part 1-63 characters starting and ending with a "
                               "letter or digit, at most 253 in total")]
        return []

    def problems(self, path: str) -> Problems:
        labels = self.metadata.labels or {}
        if NAMESPACE_LABEL in labels and self.KIND != "WorkloadEndpoint":
            yield FieldError("metadata.labels", NAMESPACE_LABEL, "label key is reserved")

    def fill_server_fields(self) -> None:
        """Set what the server derives from the rest (reserved labels, defaults)."""

    # --- identity and output -----------------------------------------------------

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace

    @property
    def ident(self) -> str:
        """``<name>`` or ``<namespace>/<name>``, as in datastore error texts."""
        return f"{self.namespace}/{self.name}" if self.NAMESPACED else self.name

    def output(self) -> dict[str, Any]:
        data = super().output()
        data["spec"] = self.spec.output()
        return data
