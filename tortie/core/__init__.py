"""tortie's shared vocabulary: stages, directions, actions, verdicts and the protocol table.
Every package speaks these; this one imports nothing of tortie."""

from .limits import (MAX_ALIAS_NODES, MAX_CONFIG_FILE, MAX_DEPTH, MAX_INPUT, MAX_NUMBER_CHARS, MAX_SHOWN, deeper_than,
                     read_bounded, shorten, shown)
from .memory import paused_gc
from .protocols import (BY_NAME, ICMP, ICMPV6, PORT_PROTOCOLS, SCTP, TABLE, TCP, UDP, UDPLITE, Protocol,
                        parse_protocol, protocol)
from .vocabulary import (DIRECTIONS, FAMILIES, STAGES, Direction, DropActionOverride, IPNetwork, KernelAction,
                         RuleAction, Stage, Verdict)

__all__ = [
    "BY_NAME", "DIRECTIONS", "FAMILIES", "ICMP", "ICMPV6", "MAX_ALIAS_NODES", "MAX_CONFIG_FILE", "MAX_DEPTH",
    "MAX_INPUT", "MAX_NUMBER_CHARS", "MAX_SHOWN", "PORT_PROTOCOLS", "SCTP", "STAGES", "TABLE", "TCP", "UDP", "UDPLITE",
    "Direction", "DropActionOverride", "IPNetwork", "KernelAction", "Protocol", "RuleAction", "Stage", "Verdict",
    "deeper_than", "parse_protocol", "paused_gc", "protocol", "read_bounded", "shorten", "shown",
]
