"""The pending verdict: the same model, evaluated over the policy set with the staged policies
promoted (issue 13). It is a second input to the model, not a second way of evaluating: the
enforced verdict and the pending one of a packet differ only by ``promote_staged``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..calc import Calculator
from ..config import Settings
from ..plan import Plan
from ..datastore import StoredResource, promote_staged
from .placement import EXTERNAL_INTERFACE, plan_for


def store_plans(items: Iterable[StoredResource], settings: Mapping[str, Settings],
                external: str = EXTERNAL_INTERFACE) -> dict[str, Plan]:
    """Each node's plan (``settings``: by node name) from the stored resources ``items``, as
    the model places packets (``plan_for``)."""
    listed = list(items)
    plans = {}
    for node, node_settings in settings.items():
        calc = Calculator(node)
        calc.load(listed)
        plans[node] = plan_for(calc.view(), node_settings, external)
    return plans


def pending_plans(items: Iterable[StoredResource], settings: Mapping[str, Settings],
                  external: str = EXTERNAL_INTERFACE) -> dict[str, Plan]:
    """``store_plans`` of ``items`` with every staged policy promoted: the pending verdict's plans."""
    return store_plans(promote_staged(items), settings, external)
