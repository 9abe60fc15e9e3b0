"""The audit: recorded traffic (Calico Enterprise flow logs, kernel LOG lines) replayed through
the model against a resource set: explain each line, report what enforcing would block and
newly allow, replay a what-if, recommend policy from what was seen.

Names are loaded on first use, as the lab's are: a command pays only for the parts it runs
(msgspec for flow logs, the HTML renderer for ``-o html``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cluster import Cluster, DeniedBy, Judgement
    from .explain import describe_explanation, explain_record, explanation_json
    from .flows import NONE, End, Flow, FlowSummary, PolicyHit, flow_of, flow_of_record, read_flows, record_time
    from .html import render as render_html
    from .recommend import TIER, TIER_ORDER, in_scope, tier_doc, to_documents
    from .recommend import recommend as recommend_policies
    from .replay import ReplayCounts, denial_hit, packet_of_flow
    from .replay import replay as replay_flows
    from .report import Report, Window, report_json, to_csv, to_table
    from .resources import ResourceFileError, ResourceSet, changed, from_files, from_listing, promoted, without_staged

_HOME = {
    "Cluster": ("cluster", "Cluster"), "DeniedBy": ("cluster", "DeniedBy"), "Judgement": ("cluster", "Judgement"),
    "describe_explanation": ("explain", "describe_explanation"), "explain_record": ("explain", "explain_record"),
    "explanation_json": ("explain", "explanation_json"),
    **{name: ("flows", name) for name in ("NONE", "End", "Flow", "FlowSummary", "PolicyHit", "flow_of",
                                          "flow_of_record", "read_flows", "record_time")},
    "render_html": ("html", "render"),
    # A function named as its module is exported under another name: importing the module
    # binds the package attribute of that name to the module.
    **{name: ("recommend", name) for name in ("TIER", "TIER_ORDER", "in_scope", "tier_doc", "to_documents")},
    "recommend_policies": ("recommend", "recommend"),
    **{name: ("replay", name) for name in ("ReplayCounts", "denial_hit", "packet_of_flow")},
    "replay_flows": ("replay", "replay"),
    **{name: ("report", name) for name in ("Report", "Window", "report_json", "to_csv", "to_table")},
    **{name: ("resources", name) for name in ("ResourceFileError", "ResourceSet", "changed", "from_files",
                                              "from_listing", "promoted", "without_staged")},
}

__all__ = [
    "Cluster", "DeniedBy", "End", "Flow", "FlowSummary", "Judgement", "NONE", "PolicyHit", "ReplayCounts", "Report",
    "ResourceFileError", "ResourceSet", "TIER", "TIER_ORDER", "Window", "changed", "denial_hit",
    "describe_explanation", "explain_record", "explanation_json", "flow_of", "flow_of_record", "from_files",
    "from_listing", "in_scope", "packet_of_flow", "promoted", "read_flows", "recommend_policies", "record_time",
    "render_html", "replay_flows", "report_json", "tier_doc", "to_csv", "to_documents", "to_table", "without_staged"
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = home
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
