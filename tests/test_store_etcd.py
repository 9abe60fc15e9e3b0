"""The store contract on etcd v3 (a real etcd from Debian's etcd-server, one per test), plus
what only a networked store needs: TLS, users, several endpoints, a restart under a watch."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import yaml

from tortie.lab.etcd import EtcdServer, free_port
from tortie.store import Event, UnavailableError, open_store, resolve_datastore

from .cli import run_cli
from .store_contract import StoreContract, gather
from .wait import wait_until


def tortie(*args: str) -> tuple[int, str]:
    """(exit status, stdout and then stderr, where errors go) of a command that names its
    datastores itself."""
    code, out, err = run_cli(args, datastore=None)
    return code, out + err


@pytest.fixture
def etcd() -> Iterator[EtcdServer]:
    server = EtcdServer().start()
    try:
        yield server
    finally:
        server.stop()


class TestEtcdContract(StoreContract):
    @pytest.fixture
    def url(self, etcd: EtcdServer) -> str:
        return etcd.url


def test_watch_resumes_across_an_etcd_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = EtcdServer(data_dir=str(tmp_path)).start()
    try:
        with open_store(server.url) as store:
            start = store.revision() + 1
            with store.watch("/w/", start) as watch:
                store.create("/w/0", b"a")
                seen: list[Event] = []
                wait_until("/w/0 on the watch", lambda: gather(watch, seen))
                server.stop(remove=False)
                with pytest.raises(UnavailableError):
                    store.create("/w/lost", b"x")
                server.start()
                store.create("/w/1", b"b")
                store.create("/w/2", b"c")
                wait_until("the watch to resume with /w/1 and /w/2", lambda: gather(watch, seen),
                           lambda events: len(events) >= 3)
        assert [e.kv.key for e in seen] == ["/w/0", "/w/1", "/w/2"]
        assert [e.revision for e in seen] == [start, start + 1, start + 2]
    finally:
        server.stop()


def test_a_dead_first_endpoint_is_skipped(etcd: EtcdServer) -> None:
    with open_store(f"etcd://127.0.0.1:{free_port()},127.0.0.1:{etcd.client_port}") as store:
        assert store.create("/e", b"1").value == b"1"


def test_tls_with_client_certificates_and_a_user(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=tortie test CA")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN={who}")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", "san.ext", "-out", f"{who}.crt")
    f = {name: str(tmp_path / name) for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}
    env = {"ETCD_CA_CERT_FILE": f["ca.crt"], "ETCD_CERT_FILE": f["client.crt"], "ETCD_KEY_FILE": f["client.key"]}
    server = EtcdServer(scheme="https", extra_args=[
        "--cert-file", f["server.crt"], "--key-file", f["server.key"], "--trusted-ca-file", f["ca.crt"],
        "--client-cert-auth"]).start(env=env)
    try:
        assert server.url.startswith("etcds://")
        with open_store(server.url, env) as store:
            store.create("/tls", b"1")
        with pytest.raises(UnavailableError):  # no client certificate
            open_store(server.url, {"ETCD_CA_CERT_FILE": f["ca.crt"]}).revision()
        # A user, with authentication switched on (root is required first).
        for args in (["user", "add", "root:rootpw"], ["user", "add", "tortie:secret"], ["role", "add", "rw"],
                     ["role", "grant-permission", "rw", "--prefix=true", "readwrite", "/"],
                     ["user", "grant-role", "tortie", "rw"], ["auth", "enable"]):
            subprocess.run(["etcdctl", "--endpoints", f"https://127.0.0.1:{server.client_port}", "--cacert",
                            f["ca.crt"], "--cert", f["client.crt"], "--key", f["client.key"], "--user", "root:rootpw",
                            *args], check=True, capture_output=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
        with open_store(server.url, {**env, "ETCD_USERNAME": "tortie", "ETCD_PASSWORD": "secret"}) as store:
            assert store.get("/tls").value == b"1"
            store.create("/user", b"2")
        with pytest.raises(UnavailableError, match="refused user tortie"):
            open_store(server.url, {**env, "ETCD_USERNAME": "tortie", "ETCD_PASSWORD": "wrong"})
    finally:
        server.stop()


def test_datastore_type_etcdv3_selects_etcd(etcd: EtcdServer) -> None:
    url = resolve_datastore(None, {"DATASTORE_TYPE": "etcdv3",
                                   "ETCD_ENDPOINTS": f"http://127.0.0.1:{etcd.client_port}"})
    with open_store(url) as store:
        assert store.revision() >= 0


def test_store_migrate_copies_every_resource_from_sqlite_to_etcd(etcd: EtcdServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = f"sqlite://{tmp_path}/single.db"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: db\n  namespace: shop\n"
        "  labels: {team: data}\n  annotations: {owner: alice}\nspec:\n  selector: app == 'db'\n"
        "  ingress: [{action: Allow}]\n")
    assert tortie("--datastore", source, "apply", "-f", str(policy))[0] == 0
    before = yaml.safe_load(tortie("--datastore", source, "get", "networkpolicy", "db", "-n", "shop",
                                   "-o", "yaml")[1])
    code, out = tortie("store", "migrate", "--from", source, "--to", etcd.url)
    assert code == 0 and out.startswith("Copied 5 resource(s)"), out
    after = yaml.safe_load(tortie("--datastore", etcd.url, "get", "networkpolicy", "db", "-n", "shop",
                                  "-o", "yaml")[1])
    for field in ("uid", "labels", "annotations", "creationTimestamp"):
        assert after["metadata"][field] == before["metadata"][field]
    assert after["spec"] == before["spec"]
    again = tortie("store", "migrate", "--from", source, "--to", etcd.url)
    assert again[1] == f"Copied 0 resource(s) from {source} to {etcd.url} (5 already there).\n"
    # Content that differs in the target stops the copy before any write, unless --overwrite.
    assert tortie("--datastore", etcd.url, "label", "networkpolicy", "db", "-n", "shop", "team=ops",
                  "--overwrite")[0] == 0
    revision = open_store(etcd.url).revision()
    code, out = tortie("store", "migrate", "--from", source, "--to", etcd.url)
    assert code == 1 and "Nothing copied: 1 resource(s)" in out
    assert open_store(etcd.url).revision() == revision
    assert tortie("store", "migrate", "--from", source, "--to", etcd.url, "--overwrite")[0] == 0
    labels = yaml.safe_load(tortie("--datastore", etcd.url, "get", "networkpolicy", "db", "-n", "shop",
                                   "-o", "yaml")[1])["metadata"]["labels"]
    assert labels["team"] == "data"
