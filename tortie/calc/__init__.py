"""Per-node policy calculation: local endpoints, their ordered tiers, policies and
profiles, and the IP sets that rules need. Pure, incremental, immutable output."""

from .calculator import Calculator, Delta, resource_id
from .inputs import BadInput, Entity, NamedPort, entity_from_doc, PolicyData, ProfileData
from .rules import CalcRule, PortRange, Side, named_port_set_id, side_selectors
from .view import EndpointView, IPSet, NodeView, PolicyView, ProfileView, TierView

__all__ = [
    "BadInput", "CalcRule", "Calculator", "Delta", "Entity", "EndpointView", "IPSet", "NamedPort", "NodeView",
    "PolicyData", "PolicyView", "PortRange", "ProfileData", "ProfileView", "Side", "TierView", "entity_from_doc",
    "side_selectors",
    "named_port_set_id", "resource_id",
]
