"""Profile (api/pkg/apis/projectcalico/v3/profile.go) and the built-in profile
``projectcalico-default-allow`` (libcalico-go lib/resources/static.go)."""

from __future__ import annotations

from typing import Any

from .policy import RULES
from .resource import API_VERSION, Resource
from .rule import Rule
from .schema import STRING, Checker, Map, Omit, Struct, check_all, field, join, struct
from .values import labels_valid

DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow"


@struct
class ProfileSpec(Struct):
    ingress: list[Rule] | None = field("ingress", RULES)
    egress: list[Rule] | None = field("egress", RULES)
    labels_to_apply: dict[str, str] | None = field("labelsToApply", Map(STRING))

    def check(self, c: Checker, at: str) -> None:
        check_all(c, self.ingress or [], join(at, "ingress"))
        check_all(c, self.egress or [], join(at, "egress"))
        if self.labels_to_apply and not labels_valid(self.labels_to_apply):
            c.tag("LabelsToApply", self.labels_to_apply, "labels")


@struct
class Profile(Resource):
    KIND = "Profile"
    PLURAL = "profiles"
    NAMES = ("profile", "profiles", "pro", "pros")

    spec: ProfileSpec = field("spec", ProfileSpec, omit=Omit.NEVER)


def default_allow_profile() -> dict[str, Any]:
    """The profile every datastore has, allowing everything, at resourceVersion 1."""
    return {"apiVersion": API_VERSION, "kind": Profile.KIND,
            "metadata": {"name": DEFAULT_ALLOW_PROFILE, "resourceVersion": "1"},
            "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}}
