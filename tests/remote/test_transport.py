"""The transport: endpoints and schemes, CA directories, Retry-After, bounded bodies."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.images import make_image
from helpers.tls import write_tls_pair
from lamina.engine.pull import pull
from lamina.errors import IntegrityError
from lamina.remote.options import RemoteOptions
from lamina.remote.transport import Transport, endpoints, read_limited, retry_after
from lamina.store import Store
from registry.servers import lamina_server

from .conftest import skopeo_push
from .fakeregistry import Answer, FakeRegistry, Request, endless


def test_docker_hub_endpoints_and_mirrors() -> None:
    assert endpoints("docker.io", RemoteOptions()) == ["https://registry-1.docker.io"]
    mirrored = RemoteOptions(mirrors=("http://127.0.0.1:5000/",))
    assert endpoints("docker.io", mirrored) == ["http://127.0.0.1:5000",
                                                "https://registry-1.docker.io"]
    assert endpoints("quay.io", mirrored) == ["https://quay.io"]


def test_which_registries_may_use_plain_http() -> None:
    options = RemoteOptions(insecure=("registry.lan:5000", "other.lan"))
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "registry.lan:5000",
                 "other.lan:443"):
        assert options.is_insecure(host), host
    for host in ("registry-1.docker.io", "registry.lan:5001", "10.0.0.1:5000"):
        assert not options.is_insecure(host), host


def test_options_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[registries]\ninsecure = ["a:5000"]\nmirrors = ["http://m"]\n'
                      'certs_dirs = ["/nowhere"]\n[pull]\nmax_concurrent_downloads = 5\n')
    options = RemoteOptions.from_toml(config)
    assert options.insecure == ("a:5000",)
    assert options.mirrors == ("http://m",)
    assert options.certs_dirs == (Path("/nowhere"),)
    assert options.max_concurrent_downloads == 5
    assert RemoteOptions.from_toml(tmp_path / "missing.toml") == RemoteOptions()


def test_certs_d_ca_is_trusted_for_its_host(tmp_path: Path) -> None:
    cert, _ = write_tls_pair(tmp_path)
    certs = tmp_path / "certs.d"
    (certs / "registry.example:5000").mkdir(parents=True)
    (certs / "registry.example:5000" / "ca.crt").write_bytes(cert.read_bytes())
    options = RemoteOptions(certs_dirs=(certs,))
    mine = Transport("https://registry.example:5000", options)._ssl_context()
    other = Transport("https://other.example", options)._ssl_context()
    assert mine.cert_store_stats()["x509"] == other.cert_store_stats()["x509"] + 1


def test_retry_after() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_tls_loopback_registry_keeps_https(tmp_path: Path, store: Store,
                                           options: RemoteOptions) -> None:
    cert, key = write_tls_pair(tmp_path)
    server = lamina_server(tmp_path / "root", extra=["--tls-cert", str(cert), "--tls-key",
                                                      str(key)])
    with server:
        server.start(tmp_path / "server.log")
        image = make_image([{"tls": b"tls"}])
        skopeo_push(tmp_path, image, f"{server.host}/tls/img:1")
        transport = Transport(f"https://{server.host}", options)
        transport.client()
        assert transport.base_url == f"https://{server.host}"  # TLS answered: kept
        transport.close()
        [result] = pull(store, f"{server.host}/tls/img:1", options)
        assert result.image_id == image.config_digest


def test_plain_http_loopback_falls_back(options: RemoteOptions) -> None:
    with FakeRegistry() as fake:
        transport = Transport(f"https://{fake.host}", options)
        transport.client()
        assert transport.base_url == f"http://{fake.host}"
        transport.close()


def test_bodies_are_bounded(options: RemoteOptions) -> None:
    with FakeRegistry() as fake:
        def hook(request: Request) -> Answer:
            if request.path == "/announced":
                return Answer(200, {}, b"x", length=10_000)
            return Answer(200, {}, endless())

        fake.hook = hook
        with Transport(f"http://{fake.host}", options) as transport:
            response = transport.request("GET", "/endless", scopes=[])
            with pytest.raises(IntegrityError, match="exceeds the limit of 1000 bytes"):
                read_limited(response, 1000, what="body")
            response = transport.request("GET", "/announced", scopes=[])
            with pytest.raises(IntegrityError, match="10000 bytes exceeds"):
                read_limited(response, 1000, what="body")
