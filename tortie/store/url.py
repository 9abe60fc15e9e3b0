"""Which datastore to use (cli.md §1) and opening it from its URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs

from .base import Store, UnavailableError
from .sqlite import SQLiteStore

DEFAULT_DATASTORE = "sqlite:///var/lib/tortie/tortie.db"
DEFAULT_CLIENT_CONFIG = "/etc/tortie/tortie.cfg"


def resolve_datastore(flag: str | None = None, env: Mapping[str, str] | None = None,
                      config_file: str | None = None) -> str:
    """The datastore URL: --datastore, TORTIE_DATASTORE, DATASTORE_TYPE=etcdv3 with
    ETCD_ENDPOINTS, the client config file, then the default."""
    env = os.environ if env is None else env
    if flag:
        return flag
    if env.get("TORTIE_DATASTORE"):
        return env["TORTIE_DATASTORE"]
    if env.get("DATASTORE_TYPE") == "etcdv3" and env.get("ETCD_ENDPOINTS"):
        return etcd_url(env["ETCD_ENDPOINTS"])
    from_file = _client_config(config_file or DEFAULT_CLIENT_CONFIG, explicit=config_file is not None)
    return from_file or DEFAULT_DATASTORE


def etcd_url(endpoints: str) -> str:
    """ETCD_ENDPOINTS (comma list of http:// or https:// URLs) as an etcd:// or etcds:// URL."""
    urls = [e.strip() for e in endpoints.split(",") if e.strip()]
    scheme = "etcds" if any(u.startswith("https://") for u in urls) else "etcd"
    hosts = [u.split("://", 1)[-1].rstrip("/") for u in urls]
    return f"{scheme}://{','.join(hosts)}"


def _client_config(path: str, explicit: bool) -> str | None:
    """The ``datastore:`` key of the client config file (YAML). Calico's CalicoAPIConfig
    form (``spec.datastoreType: etcdv3`` with ``spec.etcdEndpoints``) is read too."""
    try:
        text = Path(path).read_text()
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
    return None


def open_store(url: str, env: Mapping[str, str] | None = None) -> Store:
    """Open the store a URL names: ``sqlite://<path>[?lock_timeout=SECONDS]``, or
    ``etcd://HOST:PORT[,HOST:PORT...]`` (``etcds://`` for TLS) with Calico's ETCD_CA_CERT_FILE,
    ETCD_CERT_FILE, ETCD_KEY_FILE, ETCD_USERNAME and ETCD_PASSWORD from ``env``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UnavailableError(f"invalid datastore URL {url!r}: expected sqlite://PATH or etcd://HOST:PORT")
    if scheme == "sqlite":
        path, _, query = rest.partition("?")
        if not path:
            raise UnavailableError(f"invalid datastore URL {url!r}: no file path")
        options = parse_qs(query)
        try:
            timeout = float(options.get("lock_timeout", ["10"])[0])
        except ValueError:
            raise UnavailableError(f"invalid lock_timeout in datastore URL {url!r}") from None
        if path == DEFAULT_DATASTORE.partition("://")[2]:
            # The default location is ours to create; an explicit path with a missing
            # directory is more likely a typo than a wish for a new, empty cluster.
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return SQLiteStore(path, lock_timeout=timeout)
    if scheme in ("etcd", "etcds"):
        from .etcd import EtcdSettings, EtcdStore  # gRPC loads only for etcd users

        env = os.environ if env is None else env
        endpoints = tuple(e.strip() for e in rest.strip("/").split(",") if e.strip())
        if not endpoints or any(":" not in e for e in endpoints):
            raise UnavailableError(f"invalid datastore URL {url!r}: expected {scheme}://HOST:PORT[,HOST:PORT...]")
        return EtcdStore(EtcdSettings(endpoints, scheme == "etcds", env.get("ETCD_CA_CERT_FILE") or None,
                                      env.get("ETCD_CERT_FILE") or None, env.get("ETCD_KEY_FILE") or None,
                                      env.get("ETCD_USERNAME") or None, env.get("ETCD_PASSWORD") or None))
    raise UnavailableError(f"unsupported datastore URL scheme {scheme!r} in {url!r}")
