"""Reading resources from ``-f FILE`` (a file, a directory, or ``-`` for stdin) and naming
them on the command line, as calicoctl does (commands/common/resources.go, commands/file,
resourcemgr.go)."""

from __future__ import annotations

import os
import sys

from ..core import MAX_INPUT, paused_gc
from ..resources import (DocumentError, Resource, ResourceError, UnknownFieldError, decode, flatten, kind_from_cli,
                         kind_of, not_namespaced_error, parse_documents)
from .context import Fail

DEFAULT_NAMESPACE = "default"
FILE_SUFFIXES = (".yaml", ".yml", ".json")


def read_input(filename: str) -> bytes:
    """The bytes of FILE, or of stdin for ``-``: at most one byte past the input limit, so
    that an endless device or pipe is refused (by ``decode``) instead of read to the end."""
    try:
        if filename == "-":
            return sys.stdin.buffer.read(MAX_INPUT + 1)
        with open(filename, "rb") as f:
            return f.read(MAX_INPUT + 1)
    except OSError as exc:
        raise DocumentError(f"open {filename}: {exc.strerror.lower() if exc.strerror else exc}") from None


def files_of(filename: str, recursive: bool) -> list[str]:
    """``filename``, or the YAML and JSON files of a directory in lexical order (with ``-R``,
    of its whole tree), as calicoctl walks it (commands/file/iter.go)."""
    if filename == "-" or not os.path.isdir(filename):
        return [filename]
    found = []
    for name in sorted(os.listdir(filename)):
        path = os.path.join(filename, name)
        if os.path.isdir(path):
            if recursive:
                found += files_of(path, recursive)
        elif name.lower().endswith(FILE_SUFFIXES):
            found.append(path)
    return found


def file_error(exc: ResourceError) -> Fail:
    """A file calicoctl cannot read: its words, and an unknown field named on its own."""
    if isinstance(exc, UnknownFieldError):
        return Fail(str(exc))
    return Fail(f"failed to execute command: {exc}")


def load_file(filename: str, recursive: bool = False, skip_empty: bool = False) -> list[Resource]:
    """Every resource of the file(s), decoded strictly (not yet validated). Raises Fail."""
    resources: list[Resource] = []
    names = files_of(filename, recursive)
    for name in names:
        try:
            text = decode(read_input(name))
            with paused_gc():
                found = [kind_of(doc).parse(doc) for doc in flatten(parse_documents(text))]
        except ResourceError as exc:
            raise file_error(exc) from None
        if not found and not skip_empty:
            raise Fail(f"no resources specified in file {name}")
        resources += found
    if not resources and not skip_empty:
        raise Fail(f"no resources specified in directory {filename}")
    return resources


def place(resource: Resource, namespace: str | None, all_namespaces: bool = False) -> None:
    """calicoctl's handleNamespace: fill in or check a resource's namespace. Raises ResourceError."""
    given = resource.metadata.namespace
    if resource.NAMESPACED:
        if all_namespaces and namespace:
            raise ResourceError("cannot use both --namespace and --all-namespaces flags at the same time")
        if all_namespaces:
            resource.metadata.namespace = None
        elif not given:
            resource.metadata.namespace = namespace or DEFAULT_NAMESPACE
        elif namespace and given != namespace:
            raise ResourceError(f"resource namespace does not match client namespace. {given} != {namespace}")
    elif given:
        raise not_namespaced_error(type(resource))
    elif all_namespaces or namespace:
        raise ResourceError(f"{resource.KIND} is not namespaced")


def named(kind_name: str, names: list[str], namespace: str | None) -> list[Resource]:
    """The resources ``KIND NAME...`` stand for (GetResourcesFromArgs). Raises ResourceError."""
    kind = kind_from_cli(kind_name)
    return [kind.parse({"kind": kind.KIND, "metadata": {
        "name": name, **({"namespace": namespace} if namespace and kind.NAMESPACED else {})}}) for name in names]


def one_kind(resources: list[Resource]) -> str:
    """The kind's name when all resources have one kind, else ''."""
    kinds = {r.KIND for r in resources}
    return kinds.pop() if len(kinds) == 1 else ""
