"""How ``get`` prints resources, as calicoctl does (calicoctl/calicoctl/commands/common/printer.go
and the column templates of calicoctl/calicoctl/resourcemgr).

Tables go through Go's tabwriter (minimum width 5, padding 3): every cell is padded,
the last one too, and each table is followed by an empty line. YAML has sorted keys;
JSON keeps the Go structs' field order and has no final newline.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ..resources import Resource, go_float, to_json, to_yaml

Doc = dict[str, Any]
Column = Callable[[Doc], str]
TRUNCATE_AT = 80  # joinAndTruncate's limit for the NETS column


class OutputError(Exception):
    pass


def go_text(value: Any) -> str:
    """A value as Go's template prints it (``fmt.Sprint``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        return "{" + " ".join(go_text(v) for v in value.values()) + "}"
    if isinstance(value, list):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    return str(value)


def join(items: Any, limit: int = 0) -> str:
    """calicoctl's ``join`` and ``joinAndTruncate``: items joined with ``,``, maps as sorted
    ``k=v``, cut to ``limit`` bytes with ``...`` when longer."""
    if items is None:
        return ""
    if isinstance(items, dict):
        items = sorted(f"{k}={v}" for k, v in items.items())
    if not isinstance(items, list):
        items = [items]
    out = ""
    for i, item in enumerate(items):
        out += ("," if i else "") + go_text(item)
        if limit and len(out.encode()) > limit:
            return out.encode()[:limit - 3].decode(errors="ignore") + "..."
    return out


def _cell(value: Any) -> str:
    """A scalar column's text: empty when unset (whatever a stored value holds, never a crash)."""
    return "" if value is None or value == "" else value if isinstance(value, str) else go_text(value)


def _meta(field: str) -> Column:
    return lambda doc: _cell(doc["metadata"].get(field))


def _spec(field: str) -> Column:
    return lambda doc: _cell((doc.get("spec") or {}).get(field))


def _order(doc: Doc) -> str:
    order = (doc.get("spec") or {}).get("order")
    return go_text(float(order) if isinstance(order, int) else order)


def _joined(field: str, limit: int = 0) -> Column:
    return lambda doc: join((doc.get("spec") or {}).get(field), limit)


def _pod_selector(doc: Doc) -> str:
    """A Kubernetes pod selector's matchLabels as ``k=v`` pairs (empty: every pod)."""
    selector = (doc.get("spec") or {}).get("podSelector")
    return join(selector.get("matchLabels") if isinstance(selector, dict) else None)


def _workload(doc: Doc) -> str:
    spec = doc.get("spec") or {}
    return _cell(spec.get("workload") or spec.get("pod"))


# Per kind: (ps headings, wide headings, every heading's column) as in calicoctl's resourcemgr.
COLUMNS: dict[str, tuple[list[str], list[str], dict[str, Column]]] = {
    "FelixConfiguration": (["NAME"], ["NAME"], {"NAME": _meta("name")}),
    "Tier": (["NAME", "ORDER"], ["NAME", "ORDER"], {"NAME": _meta("name"), "ORDER": _order}),
    "GlobalNetworkPolicy": (["NAME", "TIER"], ["NAME", "TIER", "ORDER", "SELECTOR"], {
        "NAME": _meta("name"), "ORDER": _order, "SELECTOR": _spec("selector"), "TIER": _spec("tier")}),
    "NetworkPolicy": (["NAME", "TIER"], ["NAME", "TIER", "ORDER", "SELECTOR"], {
        "NAME": _meta("name"), "NAMESPACE": _meta("namespace"), "ORDER": _order, "SELECTOR": _spec("selector"),
        "TIER": _spec("tier")}),
    "Profile": (["NAME"], ["NAME", "LABELS"], {"NAME": _meta("name"), "LABELS": _joined("labelsToApply")}),
    "HostEndpoint": (["NAME", "NODE"], ["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"], {
        "NAME": _meta("name"), "NODE": _spec("node"), "INTERFACE": _spec("interfaceName"),
        "IPS": _joined("expectedIPs"), "PROFILES": _joined("profiles")}),
    "WorkloadEndpoint": (["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
                         ["NAME", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "PROFILES", "NATS"], {
        "NAME": _meta("name"), "NAMESPACE": _meta("namespace"), "NODE": _spec("node"),
        "ORCHESTRATOR": _spec("orchestrator"), "WORKLOAD": _workload, "NETWORKS": _joined("ipNetworks"),
        "NATS": _joined("ipNATs"), "PROFILES": _joined("profiles"), "INTERFACE": _spec("interfaceName")}),
    "StagedGlobalNetworkPolicy": (["NAME", "TIER"], ["NAME", "TIER", "ORDER", "SELECTOR"], {
        "NAME": _meta("name"), "ORDER": _order, "SELECTOR": _spec("selector"), "TIER": _spec("tier")}),
    "StagedNetworkPolicy": (["NAME", "TIER"], ["NAME", "TIER", "ORDER", "SELECTOR"], {
        "NAME": _meta("name"), "NAMESPACE": _meta("namespace"), "ORDER": _order, "SELECTOR": _spec("selector"),
        "TIER": _spec("tier")}),
    "StagedKubernetesNetworkPolicy": (["NAME"], ["NAME", "PODSELECTOR"], {
        "NAME": _meta("name"), "NAMESPACE": _meta("namespace"), "PODSELECTOR": _pod_selector}),
    "KubernetesNetworkPolicy": (["NAME"], ["NAME", "PODSELECTOR"], {
        "NAME": _meta("name"), "NAMESPACE": _meta("namespace"), "PODSELECTOR": _pod_selector}),
    "Namespace": (["NAME"], ["NAME", "LABELS"], {
        "NAME": _meta("name"), "LABELS": lambda doc: join(doc["metadata"].get("labels"))}),
    "GlobalNetworkSet": (["NAME"], ["NAME", "NETS"], {"NAME": _meta("name"), "NETS": _joined("nets", TRUNCATE_AT)}),
    "NetworkSet": (["NAME"], ["NAME", "NETS"], {"NAME": _meta("name"), "NAMESPACE": _meta("namespace"),
                                                "NETS": _joined("nets", TRUNCATE_AT)}),
}


def headings(kind: type[Resource], fmt: str, print_namespace: bool) -> list[str]:
    """The headings of ``ps``, ``wide`` or ``custom-columns=A,B``, with NAMESPACE first for
    a namespaced kind when a namespace was asked for."""
    ps, wide, columns = COLUMNS[kind.model_kind()]
    if fmt.startswith("custom-columns="):
        names = fmt.partition("=")[2].split(",")
    else:
        names = list(wide if fmt == "wide" else ps)
        if print_namespace and "NAMESPACE" in columns:
            names = ["NAMESPACE", *names]
    for name in names:
        if name not in columns:
            raise OutputError(f"unknown heading {name}, valid values are: {', '.join(sorted(columns))}")
    return names


def table(kind: type[Resource], docs: list[Doc], names: list[str]) -> str:
    """One table as Go's tabwriter (minwidth 5, padding 3) lays it out, then an empty line."""
    columns = COLUMNS[kind.model_kind()][2]
    rows = [names] + [[columns[n](doc) for n in names] for doc in docs]
    widths = [max(5, max(len(row[i]) for row in rows) + 3) for i in range(len(names))]
    return "".join("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + "\n" for row in rows) + "\n"


_TOP = ("kind", "apiVersion", "metadata", "spec", "status", "items")
_META = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
         "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
         "ownerReferences", "finalizers", "managedFields", "continue", "remainingItemCount")


def _ordered(data: Any, order: tuple[str, ...]) -> Any:
    if not isinstance(data, dict):
        return data
    return {**{k: data[k] for k in order if k in data}, **{k: v for k, v in data.items() if k not in order}}


def go_order(data: Any) -> Any:
    """A document (or list of them) with its keys in the Go structs' order, as json.Marshal prints."""
    if isinstance(data, list):
        return [go_order(d) for d in data]
    if not isinstance(data, dict):
        return data
    out = _ordered(data, _TOP)
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = _ordered(out["metadata"], _META)
    if isinstance(out.get("items"), list):
        out["items"] = [go_order(i) for i in out["items"]]
    return out


def printed(data: Any, fmt: str) -> str:
    """What ``get`` prints: YAML with a final newline, or JSON as json.MarshalIndent (two
    spaces, no final newline)."""
    if fmt == "json":
        return json.dumps(go_order(data), indent=2, ensure_ascii=False)
    return to_yaml(data)


def serialise(data: Any, fmt: str) -> str:
    """tortie's own reports (config show, explain, lab): YAML or JSON, each ending in a newline."""
    return to_json(data) if fmt == "json" else to_yaml(data)


def export(doc: Doc) -> Doc:
    """``--export``: drop what belongs to one cluster (namespace, uid, resourceVersion,
    creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds)."""
    drop = {"namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
            "deletionGracePeriodSeconds"}
    return {**doc, "metadata": {k: v for k, v in doc["metadata"].items() if k not in drop}}


TABLE_FORMATS = ("ps", "wide")
DATA_FORMATS = ("yaml", "yml", "json")


def check_format(fmt: str) -> str:
    """calicoctl's output formats (go-template ones are Go's own and not offered)."""
    if fmt in TABLE_FORMATS or fmt in DATA_FORMATS:
        return fmt
    if fmt.startswith("custom-columns="):
        if not fmt.partition("=")[2]:
            raise OutputError("need to specify at least one column")
        return fmt
    raise OutputError(f"unrecognized output format '{fmt}'")
