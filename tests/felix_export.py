"""A FelixConfiguration spec with every v3.32 field set, as a real cluster's export can hold it."""

from __future__ import annotations

from typing import Any

from tortie.resources import PARAMETERS


def full_felix_spec() -> dict[str, Any]:
    """A value for every field, as a real cluster's export could hold them."""
    special: dict[str, Any] = {
        "nodeSelector": None, "routeTableRange": None, "externalNodesList": ["198.18.0.0/15"],
        "routeTableRanges": [{"min": 1, "max": 250}], "bpfLogLevel": "Info", "natOutgoingAddress": "198.18.0.1",
        "deviceRouteSourceAddress": "198.18.0.2", "deviceRouteSourceAddressIPv6": "2001:db8::2",
        "openstackRegion": "region-1", "kubeNodePortRanges": ["30000:32767"], "natPortRange": "32768:65535",
        "bpfPSNATPorts": "20000:29999", "healthTimeoutOverrides": [{"name": "Main", "timeout": "30s"}],
        "bpfConntrackTimeouts": {"tcpEstablished": "1h0m0s", "genericTimeout": "Auto"}, "bpfLogFilters": {"all": "tcp"},
        "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 22}], "iptablesMarkMask": 4294901760,
        "failsafeOutboundHostPorts": [{"protocol": "UDP", "port": 53, "net": "10.0.0.0/8"}], "istioDSCPMark": 23,
        "featureDetectOverride": "ChecksumOffloadBroken=true", "featureGates": "Feature=on", "logPrefix": "calico-packet",
        "logActionRateLimit": "10/second", "prometheusMetricsHost": "127.0.0.1", "wireguardRoutingRulePriority": 99,
        "iptablesNATOutgoingInterfaceFilter": "eth+", "logDebugFilenameRegex": ".*", "routeSource": "WorkloadIPs",
        "bpfDataIfacePattern": "^eth", "bpfL3IfacePattern": "^wg", "bpfDisableGROForIfaces": "^eth", "mtuIfacePattern": "^e",
        "bpfForceTrackPacketsFromIfaces": ["docker+"], "bpfDSROptoutCIDRs": ["10.0.0.0/8"], "wireguardInterfaceName": "wg0",
        "bpfExcludeCIDRsFromNAT": ["10.1.0.0/16"], "wireguardInterfaceNameV6": "wg1", "healthHost": "localhost",
        "prometheusMetricsClientAuth": "RequireAndVerifyClientCert", "ipv4NormalRoutePriority": 1024,
        "ipv4ElevatedRoutePriority": 512, "ipv6NormalRoutePriority": 1024, "ipv6ElevatedRoutePriority": 512,
        "liveMigrationRouteConvergenceTime": "30s",
    }
    spec: dict[str, Any] = {}
    for name, p in PARAMETERS.items():
        if name in special:
            if special[name] is not None:
                spec[name] = special[name]
        elif p.choices:
            spec[name] = p.choices[-1]
        elif p.kind == "bool":
            spec[name] = True
        elif p.kind == "duration":
            spec[name] = "1m30s"
        elif p.kind == "int":
            spec[name] = 1
        else:
            spec[name] = "/var/run/x"
    return spec
