"""Which datastore to use (cli.md §1) and opening it from its URL."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qs

from ..core import read_bounded
from .base import Store, UnavailableError
from .sqlite import SQLiteStore

DEFAULT_DATASTORE = "sqlite:///var/lib/tortie/tortie.db"
DEFAULT_CLIENT_CONFIG = "/etc/tortie/tortie.cfg"


def resolve_datastore(flag: str | None = None, env: Mapping[str, str] | None = None,
                      config_file: str | None = None) -> str:
    """The datastore URL, chosen as calicoctl chooses its client config (calicoctl
    clientmgr/client.go LoadClientConfig): --datastore (tortie's own flag) first; then a
    client config file that exists (``config_file``, or the default /etc/tortie/tortie.cfg),
    whole: its datastore, or the default URL when it names none; only when there is no file,
    TORTIE_DATASTORE, DATASTORE_TYPE=etcdv3 with ETCD_ENDPOINTS, then the default URL.
    Raises UnavailableError for a ``config_file`` that is missing or cannot be read, and for
    the default one when it exists but cannot be read."""
    env = os.environ if env is None else env
    if flag:
        return flag
    from_file = _client_config(config_file or DEFAULT_CLIENT_CONFIG, explicit=config_file is not None)
    if from_file is not None:
        return from_file
    if env.get("TORTIE_DATASTORE"):
        return env["TORTIE_DATASTORE"]
    if env.get("DATASTORE_TYPE") == "etcdv3" and env.get("ETCD_ENDPOINTS"):
        return etcd_url(env["ETCD_ENDPOINTS"])
    return DEFAULT_DATASTORE


def etcd_url(endpoints: str) -> str:
    """ETCD_ENDPOINTS (comma list of http:// or https:// URLs) as an etcd:// or etcds:// URL."""
    urls = [e.strip() for e in endpoints.split(",") if e.strip()]
    scheme = "etcds" if any(u.startswith("https://") for u in urls) else "etcd"
    hosts = [u.split("://", 1)[-1].rstrip("/") for u in urls]
    return f"{scheme}://{','.join(hosts)}"


def _client_config(path: str, explicit: bool) -> str | None:
    """The datastore the client config file (YAML) names in its ``datastore:`` key, or in
    Calico's CalicoAPIConfig form (``spec.datastoreType: etcdv3`` with ``spec.etcdEndpoints``);
    the default URL when it names none; None when the file is missing and not ``explicit``."""
    try:
        text = read_bounded(path).decode()
    except FileNotFoundError:
        if explicit:
            raise UnavailableError(f"client config file {path} does not exist") from None
        return None
    except OSError as exc:
        raise UnavailableError(f"cannot read client config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UnavailableError(f"client config file {path} is not UTF-8 text (invalid byte at offset {exc.start})") \
            from None
    import yaml  # here, not at the top: only a client config file needs PyYAML
    try:
        data: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise UnavailableError(f"client config file {path} is not valid YAML") from None
    if not isinstance(data, dict):
        raise UnavailableError(f"client config file {path} must be a mapping")
    spec: dict[str, Any] = data["spec"] if isinstance(data.get("spec"), dict) else {}
    datastore = data.get("datastore") or spec.get("datastore")
    if datastore:
        return str(datastore)
    if spec.get("datastoreType") == "etcdv3" and spec.get("etcdEndpoints"):
        return etcd_url(str(spec["etcdEndpoints"]))
    return DEFAULT_DATASTORE


class InvalidURLError(UnavailableError):
    """A datastore URL that can never work (its form, scheme, port, or a SQLite path that is a
    directory or lies in a directory that does not exist): a configuration error, where an
    UnavailableError alone may be an outage that passes."""


@dataclass(frozen=True)
class DatastoreURL:
    """A datastore URL taken apart: ``scheme`` sqlite, etcd or etcds; ``path`` and
    ``lock_timeout`` (seconds) for SQLite, ``endpoints`` (``HOST:PORT``, ``[IPv6]:PORT`` or
    ``unix:PATH``) for etcd."""

    scheme: str
    path: str = ""
    lock_timeout: float = 10.0
    endpoints: tuple[str, ...] = ()


def parse_datastore_url(url: str) -> DatastoreURL:
    """``sqlite://<path>[?lock_timeout=SECONDS]`` or ``etcd[s]://HOST:PORT[,HOST:PORT...]``,
    checked as far as it can be without reaching the datastore: raises InvalidURLError naming
    the part that is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidURLError(f"invalid datastore URL {url!r}: expected sqlite://PATH or etcd://HOST:PORT")
    if scheme == "sqlite":
        path, _, query = rest.partition("?")
        if not path:
            raise InvalidURLError(f"invalid datastore URL {url!r}: no file path")
        try:
            timeout = float(parse_qs(query).get("lock_timeout", ["10"])[0])
        except ValueError:
            timeout = math.nan
        if not 0 <= timeout < math.inf:
            raise InvalidURLError(f"invalid lock_timeout in datastore URL {url!r}: expected seconds (0 or more)")
        if os.path.isdir(path):
            raise InvalidURLError(f"invalid datastore URL {url!r}: {path} is a directory, not a file")
        directory = os.path.dirname(os.path.abspath(path))
        # The default location is ours to create; an explicit path with a missing directory
        # is more likely a typo than a wish for a new, empty cluster.
        if path != DEFAULT_DATASTORE.partition("://")[2] and not os.path.isdir(directory):
            raise InvalidURLError(f"datastore directory does not exist: {directory}")
        return DatastoreURL(scheme, path, timeout)
    if scheme in ("etcd", "etcds"):
        endpoints = tuple(e.strip() for e in rest.strip("/").split(",") if e.strip())
        if not endpoints:
            raise InvalidURLError(f"invalid datastore URL {url!r}: expected {scheme}://HOST:PORT[,HOST:PORT...]")
        for endpoint in endpoints:
            problem = _endpoint_problem(endpoint)
            if problem:
                raise InvalidURLError(f"invalid datastore URL {url!r}: {problem}")
        return DatastoreURL(scheme, endpoints=endpoints)
    raise InvalidURLError(f"unsupported datastore URL scheme {scheme!r} in {url!r}: expected sqlite:// or etcd://")


def _endpoint_problem(endpoint: str) -> str:
    """What is wrong with one etcd endpoint (``HOST:PORT``, ``[IPv6]:PORT``, ``unix:PATH``), or ''."""
    if endpoint.startswith("unix:"):
        return "" if len(endpoint) > len("unix:") else "unix: needs a socket path"
    if endpoint.startswith("["):
        host, bracket, port = endpoint[1:].partition("]")
        if not bracket or not port.startswith(":"):
            return f"endpoint {endpoint!r} is not [IPv6]:PORT"
        port = port[1:]
    else:
        host, colon, port = endpoint.rpartition(":")
        if not colon or ":" in host:
            return f"endpoint {endpoint!r} is not HOST:PORT (an IPv6 address goes in brackets)"
    if not host or any(c.isspace() or c in "/@?#[]" for c in host):
        return f"endpoint {endpoint!r} has no valid host"
    if not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        return f"endpoint {endpoint!r}: port {port!r} is not 1-65535"
    return ""


def open_store(url: str, env: Mapping[str, str] | None = None, create: bool = True) -> Store:
    """Open the store a URL names (see parse_datastore_url); for etcd with Calico's
    ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME and ETCD_PASSWORD from
    ``env``. A SQLite file that does not exist is created, unless ``create`` is false
    (a store to read from: then its absence is an InvalidURLError). Raises StoreError."""
    parsed = parse_datastore_url(url)
    if parsed.scheme == "sqlite":
        if not create and not os.path.exists(parsed.path):
            raise InvalidURLError(f"datastore {parsed.path} does not exist")
        if parsed.path == DEFAULT_DATASTORE.partition("://")[2]:
            os.makedirs(os.path.dirname(parsed.path), exist_ok=True)
        return SQLiteStore(parsed.path, lock_timeout=parsed.lock_timeout)
    from .etcd import EtcdSettings, EtcdStore  # gRPC loads only for etcd users

    env = os.environ if env is None else env
    return EtcdStore(EtcdSettings(parsed.endpoints, parsed.scheme == "etcds", env.get("ETCD_CA_CERT_FILE") or None,
                                  env.get("ETCD_CERT_FILE") or None, env.get("ETCD_KEY_FILE") or None,
                                  env.get("ETCD_USERNAME") or None, env.get("ETCD_PASSWORD") or None))
