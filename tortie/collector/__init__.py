"""The collector: NFLOG packets read from the kernel, folded into denied-packet metrics and
the denied-flow stream, using the prefix table the renderer returned."""

from .flows import FILE_NAME, FlowCounts, FlowKey, FlowLog, record
from .nflog import Losses, NflogError, NflogParser, NflogReader, ip_length, source_address
from .pipeline import DeniedCounter, DenialPipeline, PipelineSettings, endpoint_names, flow_of

__all__ = [
    "FILE_NAME", "DeniedCounter", "DenialPipeline", "FlowCounts", "FlowKey", "FlowLog", "Losses", "NflogError",
    "NflogParser", "NflogReader", "PipelineSettings", "endpoint_names", "flow_of", "ip_length", "record",
    "source_address",
]
