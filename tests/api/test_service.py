"""``lamina system service`` itself: where it listens, how it refuses to, and --time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from api.service import Service


def _service(tmp: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", "system", "service", *args],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={"LAMINA_ROOT": str(tmp / "store"), "PATH": "/usr/bin:/bin"})


def test_tcp_without_client_verification_is_refused(tmp_path: Path) -> None:
    result = _service(tmp_path, "--socket", "tcp://127.0.0.1:0")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: refusing to listen on tcp:// without TLS client verification: give "
        "--tlsverify with --tlscacert, --tlscert and --tlskey (the API is root-equivalent)"]
    half = _service(tmp_path, "--socket", "tcp://127.0.0.1:0", "--tlscert", "c.pem",
                    "--tlskey", "k.pem")
    assert half.returncode != 0 and "refusing to listen on tcp://" in half.stderr


def test_tcp_with_mutual_tls_serves_clients_with_a_certificate(tmp_path: Path) -> None:
    import http.client
    import json
    import ssl

    from helpers.tls import write_tls_pair
    from registry.servers import free_port

    (tmp_path / "server").mkdir()
    (tmp_path / "client").mkdir()
    server_cert, server_key = write_tls_pair(tmp_path / "server")
    client_cert, client_key = write_tls_pair(tmp_path / "client")
    port = free_port()
    # the client's self-signed certificate is the CA the service trusts
    proc = subprocess.Popen([sys.executable, "-m", "lamina", "system", "service", "--socket",
                             f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert",
                             str(client_cert), "--tlscert", str(server_cert), "--tlskey",
                             str(server_key), "--time", "0"],
                            env={"LAMINA_ROOT": str(tmp_path / "store"), "PATH": "/usr/bin:/bin"},
                            stderr=(tmp_path / "service.log").open("wb"))
    try:
        def connect(with_cert: bool) -> http.client.HTTPSConnection:
            context = ssl.create_default_context(cafile=str(server_cert))
            context.check_hostname = False  # (the test certificates name no host)
            if with_cert:
                context.load_cert_chain(str(client_cert), str(client_key))
            return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)

        for _ in range(300):
            try:
                conn = connect(True)
                conn.request("GET", "/version")
                answer = conn.getresponse()
                break
            except (ConnectionRefusedError, ssl.SSLError, OSError):
                time.sleep(0.05)
        assert answer.status == 200
        assert json.loads(answer.read())["ApiVersion"] == "1.50"
        refused = connect(False)
        try:
            refused.request("GET", "/version")
            refused.getresponse()
            raise AssertionError("a client without a certificate was served")
        except (ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected,
                BrokenPipeError):
            pass
    finally:
        proc.terminate()
        proc.wait(10)
        assert "Traceback" not in (tmp_path / "service.log").read_text()


def test_idle_time_ends_the_service(tmp_path: Path) -> None:
    sock = tmp_path / "idle.sock"
    started = time.monotonic()
    result = _service(tmp_path, "--socket", f"unix://{sock}", "--time", "1", timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert not sock.exists()  # the socket goes with the service


def test_a_live_socket_is_not_taken_over(tmp_path: Path) -> None:
    svc = Service(tmp_path).start()
    try:
        second = _service(tmp_path, "--socket", f"unix://{svc.sock}", "--time", "1")
        assert second.returncode != 0
        assert f"another service is listening on {svc.sock}" in second.stderr
        assert svc.request("GET", "/_ping").status == 200
    finally:
        svc.stop()


def test_group_socket_is_0660(tmp_path: Path) -> None:
    sock = tmp_path / "group.sock"
    proc = subprocess.Popen([sys.executable, "-m", "lamina", "system", "service", "--socket",
                             f"unix://{sock}", "--group", "0", "--time", "0"],
                            env={"LAMINA_ROOT": str(tmp_path / "store"), "PATH": "/usr/bin:/bin"},
                            stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if sock.exists():
                break
            time.sleep(0.05)
        st = sock.stat()
        assert (st.st_mode & 0o777, st.st_gid) == (0o660, 0)
    finally:
        proc.terminate()
        proc.wait(10)
