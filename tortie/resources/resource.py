"""The resource envelope: TypeMeta, Kubernetes ObjectMeta, and loading one document.

Loading does what calicoctl and libcalico-go do to a document on its way to the
datastore, in their order: decode it strictly (resources.md §1, as Go's JSON decoder),
apply the client's defaults (libcalico-go clientv3 and api/pkg/defaults) and the CRD's
defaults, then validate (validator.go, then the CRD schema and CEL rules).
"""

from __future__ import annotations

from typing import Any, ClassVar

from .errors import ResourceError, ValidationError
from .schema import BOOL, INT64, RAW, STRING, TIME, Checker, List, Map, Omit, Struct, StructType, decode, field, struct
from .values import is_name, label_value_problems, qualified_name_problems

API_VERSION = "projectcalico.org/v3"
ANNOTATIONS_MAX = 256 * 1024

NAMESPACE_LABEL = "projectcalico.org/namespace"
ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"
TIER_LABEL = "projectcalico.org/tier"
NAME_REASON = ("name must consist of lower case alphanumeric characters, '-' or '.' (regex: "
               "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)")
LABEL_NAME_REASON = ("name must consist of lower case alphanumeric characters or '-' (regex: "
                     "[a-z0-9]([-a-z0-9]*[a-z0-9])?)")


@struct
class OwnerReference(Struct):
    GO = "v1.OwnerReference"
    api_version: str | None = field("apiVersion", STRING, go="APIVersion", omit=Omit.NEVER)
    kind: str | None = field("kind", STRING, omit=Omit.NEVER)
    name: str | None = field("name", STRING, omit=Omit.NEVER)
    uid: str | None = field("uid", STRING, go="UID", omit=Omit.NEVER)
    controller: bool | None = field("controller", BOOL, omit=Omit.POINTER)
    block_owner_deletion: bool | None = field("blockOwnerDeletion", BOOL, omit=Omit.POINTER)


@struct
class ManagedFieldsEntry(Struct):
    GO = "v1.ManagedFieldsEntry"
    manager: str | None = field("manager", STRING)
    operation: str | None = field("operation", STRING)
    api_version: str | None = field("apiVersion", STRING, go="APIVersion")
    time: str | None = field("time", TIME, omit=Omit.POINTER)
    fields_type: str | None = field("fieldsType", STRING)
    fields_v1: Any = field("fieldsV1", RAW, go="FieldsV1", omit=Omit.POINTER)
    subresource: str | None = field("subresource", STRING)


@struct
class ObjectMeta(Struct):
    """Kubernetes metadata. calicoctl reads every field and keeps only name, namespace,
    resourceVersion, labels and annotations (resourcemgr.go prepareMetadataForCreate,
    mergeMetadataForUpdate); the server sets uid and creationTimestamp."""

    GO = "v1.ObjectMeta"
    name: str | None = field("name", STRING)
    generate_name: str | None = field("generateName", STRING)
    namespace: str | None = field("namespace", STRING)
    self_link: str | None = field("selfLink", STRING)
    uid: str | None = field("uid", STRING, go="UID")
    resource_version: str | None = field("resourceVersion", STRING)
    generation: int | None = field("generation", INT64)
    creation_timestamp: str | None = field("creationTimestamp", TIME)
    deletion_timestamp: str | None = field("deletionTimestamp", TIME, omit=Omit.POINTER)
    deletion_grace_period_seconds: int | None = field("deletionGracePeriodSeconds", INT64, omit=Omit.POINTER)
    labels: dict[str, str] | None = field("labels", Map(STRING))
    annotations: dict[str, str] | None = field("annotations", Map(STRING))
    owner_references: list[OwnerReference] | None = field("ownerReferences", List(StructType(OwnerReference)))
    finalizers: list[str] | None = field("finalizers", List(STRING))
    managed_fields: list[ManagedFieldsEntry] | None = field("managedFields", List(StructType(ManagedFieldsEntry)))

    def kept(self) -> ObjectMeta:
        """What calicoctl keeps of input metadata."""
        return ObjectMeta(name=self.name, namespace=self.namespace, resource_version=self.resource_version,
                          labels=self.labels, annotations=self.annotations, uid=self.uid,
                          creation_timestamp=self.creation_timestamp)


def check_annotations(c: Checker, annotations: dict[str, str] | None) -> None:
    """validateObjectMetaAnnotations: keys as label keys (in lower case), 256 KiB in all."""
    total = 0
    for key, value in (annotations or {}).items():
        for problem in qualified_name_problems(key.lower()):
            c.error("Metadata.Annotations (key)", key, problem)
        total += len(key.encode()) + len(value.encode())
    if total > ANNOTATIONS_MAX:
        c.error("Metadata.Annotations (key)", annotations,
                f"total size of annotations is too large by {total - ANNOTATIONS_MAX} bytes")


def check_labels(c: Checker, labels: dict[str, str] | None) -> None:
    """validateObjectMetaLabels: Kubernetes label keys and values."""
    for key, value in (labels or {}).items():
        for problem in qualified_name_problems(key):
            c.error("Metadata.Labels (label)", key, problem)
        for problem in label_value_problems(value):
            c.error("Metadata.Labels (value)", value, problem)


def check_object_meta(c: Checker, meta: ObjectMeta) -> None:
    """validateObjectMeta: a DNS-1123 subdomain of at most 253 bytes, then labels and annotations."""
    name = meta.name or ""
    if len(name.encode()) > 253:
        c.error("Metadata.Name", name, f"name is too long by {len(name.encode()) - 253} bytes")
    if not is_name(name):
        c.error("Metadata.Name", name, NAME_REASON)
    check_annotations(c, meta.annotations)
    check_labels(c, meta.labels)


@struct
class NoSpec(Struct):
    """Placeholder spec of the base class; every kind declares its own."""


@struct
class Resource(Struct):
    """One v3 resource. Subclasses are dataclasses that redeclare ``spec`` and set the constants."""

    KIND: ClassVar[str] = ""
    API: ClassVar[str] = API_VERSION  # its apiVersion
    MODEL_KIND: ClassVar[str] = ""  # the kind calc and Felix know it by, when not KIND
    NAMESPACED: ClassVar[bool] = False
    PLURAL: ClassVar[str] = ""
    NAMES: ClassVar[tuple[str, ...]] = ()  # CLI names, lower case (calicoctl/resourcemgr)

    kind: str | None = field("kind", STRING)
    api_version: str | None = field("apiVersion", STRING, go="APIVersion")
    metadata: ObjectMeta = field("metadata", ObjectMeta, omit=Omit.NEVER)
    spec: Any = field("spec", NoSpec, omit=Omit.NEVER)

    # --- construction -----------------------------------------------------------------

    @classmethod
    def load(cls, doc: dict[str, Any], client_defaults: bool = True) -> Resource:
        """Decode, default and validate one document. Raises ResourceError with calicoctl's text."""
        return cls.parse(doc).validated(client_defaults)

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Resource:
        """Decode one document as calicoctl reads a file. Raises DecodeError."""
        resource = decode(cls, doc)
        if resource.metadata is None:
            resource.metadata = ObjectMeta()
        if resource.spec is None:
            resource.spec = _spec_type(cls)()
        return resource

    def validated(self, client_defaults: bool = True) -> Resource:
        """Apply the defaults, then check. Raises ValidationError.

        ``client_defaults`` False leaves out what libcalico-go's client sets before it
        validates (``calicoctl validate`` calls the validator alone).
        """
        if client_defaults:
            self.client_defaults()
        self.crd_defaults()
        problems = self.problems()
        if problems:
            raise ValidationError(problems)
        return self

    def problems(self) -> list[Any]:
        c = Checker()
        self.check(c, "")
        return c.errors()

    def check(self, c: Checker, at: str) -> None:
        check_object_meta(c, self.metadata)
        self.spec.check(c, "spec")

    def client_defaults(self) -> None:
        """What libcalico-go's client fills in before it validates."""

    def crd_defaults(self) -> None:
        """The CRD schema's defaults (etcd mode: libcalico-go validator/v3/crd_validation.go)."""

    # --- identity and output ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace or None

    @property
    def ident(self) -> str:
        """``Kind(name)`` or ``Kind(namespace/name)``, as in datastore errors."""
        return f"{self.KIND}({self.namespace}/{self.name})" if self.NAMESPACED else f"{self.KIND}({self.name})"

    def output(self) -> dict[str, Any]:
        """The resource as calicoctl prints it (json.Marshal of the Go struct)."""
        out = self.encode()
        return {**out, "kind": self.KIND, "apiVersion": self.API}

    @classmethod
    def model_kind(cls) -> str:
        return cls.MODEL_KIND or cls.KIND


def _spec_type(cls: type[Resource]) -> type[Struct]:
    for info in cls.fields_info():
        if info.json == "spec" and isinstance(info.type, StructType):
            return info.type.cls
    raise ResourceError(f"{cls.KIND} has no spec")


def not_namespaced_error(kind: type[Resource]) -> ResourceError:
    return ResourceError("namespace should not be specified for a non-namespaced resource. "
                         f"{kind.KIND} is not a namespaced resource")
