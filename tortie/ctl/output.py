"""How ``get`` prints resources (cli.md §6): tables, YAML and JSON."""

from __future__ import annotations

from typing import Any, Callable

from ..resources import Resource, to_json, to_yaml

Doc = dict[str, Any]
Column = Callable[[Doc], Any]


def _meta(field: str) -> Column:
    return lambda doc: doc["metadata"].get(field)


def _spec(field: str) -> Column:
    return lambda doc: (doc.get("spec") or {}).get(field)


def _nats(doc: Doc) -> list[str]:
    nats = (doc.get("spec") or {}).get("ipNATs")
    return [f"{n.get('internalIP')}->{n.get('externalIP')}" for n in nats if isinstance(n, dict)] \
        if isinstance(nats, list) else []


# Per kind: (ps columns, wide columns); every column is named in the wide set.
COLUMNS: dict[str, tuple[list[str], dict[str, Column]]] = {
    "FelixConfiguration": (["NAME"], {"NAME": _meta("name")}),
    "Tier": (["NAME", "ORDER"], {"NAME": _meta("name"), "ORDER": _spec("order")}),
    "GlobalNetworkPolicy": (["NAME", "TIER"], {
        "NAME": _meta("name"), "TIER": _spec("tier"), "ORDER": _spec("order"), "SELECTOR": _spec("selector")}),
    "NetworkPolicy": (["NAMESPACE", "NAME", "TIER"], {
        "NAMESPACE": _meta("namespace"), "NAME": _meta("name"), "TIER": _spec("tier"), "ORDER": _spec("order"),
        "SELECTOR": _spec("selector")}),
    "Profile": (["NAME"], {"NAME": _meta("name"), "LABELS": _spec("labelsToApply")}),
    "HostEndpoint": (["NAME", "NODE"], {
        "NAME": _meta("name"), "NODE": _spec("node"), "INTERFACE": _spec("interfaceName"),
        "IPS": _spec("expectedIPs"), "PROFILES": _spec("profiles")}),
    "WorkloadEndpoint": (["NAMESPACE", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE"], {
        "NAMESPACE": _meta("namespace"), "NAME": _meta("name"), "WORKLOAD": _spec("workload"),
        "NODE": _spec("node"), "NETWORKS": _spec("ipNetworks"), "INTERFACE": _spec("interfaceName"),
        "PROFILES": _spec("profiles"), "NATS": _nats}),
    "GlobalNetworkSet": (["NAME"], {"NAME": _meta("name"), "NETS": _spec("nets")}),
    "NetworkSet": (["NAMESPACE", "NAME"], {"NAMESPACE": _meta("namespace"), "NAME": _meta("name"),
                                           "NETS": _spec("nets")}),
}


class OutputError(Exception):
    pass


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={cell(v)}" for k, v in sorted(value.items()))
    return str(value)


def table(kind: type[Resource], docs: list[Doc], fmt: str) -> str:
    """``ps``, ``wide`` or ``custom-columns=A,B`` table, rows sorted by (namespace, name)."""
    ps, wide = COLUMNS[kind.KIND]
    if fmt == "ps":
        names = ps
    elif fmt == "wide":
        names = list(wide)
    else:
        names = [n.strip().upper() for n in fmt.partition("=")[2].split(",") if n.strip()]
        for name in names:
            if name not in wide:
                raise OutputError(f"unknown column '{name}' for {kind.KIND}")
    ordered = sorted(docs, key=lambda d: (d["metadata"].get("namespace", ""), d["metadata"]["name"]))
    rows = [names] + [[cell(wide[n](doc)) for n in names] for doc in ordered]
    widths = [max(len(row[i]) for row in rows) + 3 for i in range(len(names))]
    lines = []
    for row in rows:
        text = "".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)) + row[-1]
        lines.append(text.rstrip())
    return "\n".join(lines) + "\n"


def export(doc: Doc) -> Doc:
    """``--export``: drop what belongs to one cluster (uid, resourceVersion, timestamp, namespace)."""
    drop = {"uid", "resourceVersion", "creationTimestamp", "namespace"}
    return {**doc, "metadata": {k: v for k, v in doc["metadata"].items() if k not in drop}}


def serialise(data: Any, fmt: str) -> str:
    return to_json(data) if fmt == "json" else to_yaml(data)


TABLE_FORMATS = ("ps", "wide")
DATA_FORMATS = ("yaml", "yml", "json")


def check_format(fmt: str) -> str:
    if fmt in TABLE_FORMATS or fmt in DATA_FORMATS or fmt.startswith("custom-columns="):
        return fmt
    raise OutputError(f"unrecognised output format '{fmt}'")
