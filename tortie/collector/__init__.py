"""The collector: NFLOG packets read from the kernel, folded into denied-packet metrics, and
the flow logs of all traffic (allowed connections from conntrack, dropped ones from NFLOG)."""

from .conntrack import Conn, parse
from .flowlogs import FILE_NAME, FlowLogConfig, FlowLogs, policy_strings, write_rotated
from .nflog import Losses, NflogError, NflogParser, NflogReader, ip_length, source_address
from .pipeline import DeniedCounter, DenialPipeline, PipelineSettings, flow_of

__all__ = [
    "FILE_NAME", "Conn", "DeniedCounter", "DenialPipeline", "FlowLogConfig", "FlowLogs",
    "Losses", "NflogError", "NflogParser", "NflogReader", "PipelineSettings", "flow_of", "ip_length", "parse",
    "policy_strings", "source_address", "write_rotated",
]
