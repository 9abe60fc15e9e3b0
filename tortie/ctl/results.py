"""What the resource commands print when they are done, in calicoctl v3.32's words
(calicoctl/calicoctl/commands/create.go, apply.go, replace.go, delete.go, validate.go)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import click

from ..resources import Resource, ResourceError
from ..store import StoreError
from .context import Fail

PAST = {"create": "created", "apply": "applied", "replace": "replaced", "delete": "deleted",
        "validate": "validated"}
# Their last error line: create's and validate's wording differ from apply's.
HIT = {"create": "hit error", "apply": "hit error(s)", "validate": "hit error(s)"}


def go_errors(errors: Sequence[Exception]) -> str:
    """A list of errors as Go prints a ``[]error``: ``[first second]``."""
    return "[" + " ".join(str(e) for e in errors) + "]"


@dataclass
class Results:
    """How a command went: the resources it was given and the errors it met."""

    verb: str
    total: int
    kind: str  # the one kind of all the resources, or ""
    handled: int = 0
    errors: list[Exception] = field(default_factory=list)

    def what(self, plural: bool = False) -> str:
        return f"'{self.kind}' resource{'s' if plural else ''}" if self.kind else f"resource{'s' if plural else ''}"

    def success(self, count: int) -> str:
        what = f"'{self.kind}' resource(s)" if self.kind else "resource(s)"
        return f"Successfully {PAST[self.verb]} {count} {what}"

    def report(self) -> str:
        """create, apply and validate: every resource is tried; the message, or Fail."""
        past = PAST[self.verb]
        if self.handled == 0 and self.errors:
            if self.total == 1:
                raise Fail(f"failed to {self.verb} {self.what()}: {go_errors(self.errors)}")
            raise Fail(f"failed to {self.verb} any {self.what(True)}: {go_errors(self.errors)}")
        if not self.errors:
            return self.success(self.handled)
        if self.handled - len(self.errors) > 0:  # on stdout, the error after it on stderr (calicoctl create.go)
            click.echo(f"Partial success: {past} the first {self.handled} out of {self.total} {self.what(True)}:")
        raise Fail(f"{HIT[self.verb]}: {go_errors(self.errors)}")


Action = Callable[[Resource], object]


def run_all(verb: str, resources: Sequence[Resource], kind: str, action: Action) -> str:
    """Try every resource, keeping the errors (create, apply, validate); the message, or Fail."""
    results = Results(verb, len(resources), kind)
    for resource in resources:
        try:
            action(resource)
            results.handled += 1
        except (ResourceError, StoreError) as exc:
            results.errors.append(exc)
    return results.report()


def run_in_order(verb: str, resources: Sequence[Resource], kind: str, action: Action) -> str:
    """replace: stop at the first error; writes made before it are kept."""
    what = Results(verb, len(resources), kind)
    for done, resource in enumerate(resources):
        try:
            action(resource)
        except (ResourceError, StoreError) as exc:
            if done == 0:
                target = what.what() if len(resources) == 1 else f"any {what.what(True)}"
                raise Fail(f"failed to {verb} {target}: {exc}") from None
            raise Fail(f"Partial success: {PAST[verb]} the first {done} out of {len(resources)} "
                       f"{what.what(True)}:\nhit error: {exc}") from None
    return what.success(len(resources))
