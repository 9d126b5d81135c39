"""Published ports in every form (ranges, -P, --expose, an ephemeral port on one address, UDP)
and from containers of another network; network options (--internal, --ip-range, the bridge's
name, --mac-address, ls filters); outbound NAT to a peer namespace; and nothing left, and
everything working again, after the machine "restarts". Each test in namespaces of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers.netns import NetNS
from network.conftest import Net

UDP_ECHO = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('0.0.0.0', 5353))\n"
            "while True:\n"
            "    data, peer = s.recvfrom(100)\n"
            "    s.sendto(b'echo ' + data, peer)\n")


def host_python() -> list[str]:
    """Binds that let a busybox container run the machine's own python3 (a UDP server)."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3 to run a UDP server with")
    binds = ["-v", "/usr:/usr:ro"]
    for lib in ("lib", "lib64"):
        if Path(f"/{lib}").is_symlink() and Path(f"/usr/{lib}").is_dir():
            binds += ["-v", f"/usr/{lib}:/{lib}:ro"]
        elif Path(f"/{lib}").is_dir():
            binds += ["-v", f"/{lib}:/{lib}:ro"]
    return binds


def udp_ask(net: Net, port: int, text: str) -> str:
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)\n"
            "for _ in range(20):\n"
            f"    s.sendto(b'{text}', ('127.0.0.1', {port}))\n"
            "    try:\n"
            "        print(s.recv(100).decode()); break\n"
            "    except socket.timeout:\n"
            "        pass\n")
    return net.ns.run(["python3", "-c", code], timeout=60).stdout.strip()


def test_published_port_forms(net: Net) -> None:
    net.ok("network", "create", "--subnet", "10.70.0.0/24", "pub")
    # an address of the namespace's own, to publish on
    own = net.sh("ip addr add 198.51.100.1/32 dev lo")
    assert own.returncode == 0, own.stderr
    script = ("mkdir -p /a /b && echo eighty > /a/index.html && echo other > /b/index.html &&"
              " busybox httpd -p 80 -h /a && busybox httpd -p 81 -h /b &&"
              " busybox httpd -p 9000 -h /b && exec python3 -c \"$UDP\"")
    net.ok("run", "-d", "--name", "srv", "--network", "pub", *host_python(), "-e",
           f"UDP={UDP_ECHO}", "-P", "--expose", "9000", "-p", "8100-8101:80-81",
           "-p", "127.0.0.1::80", "-p", "8300:5353/udp", "-p", "198.51.100.1:8102:81", "bb",
           "sh", "-c", script)
    ports = net.ok("port", "srv").splitlines()
    assert ports[:2] == ["80/tcp -> 0.0.0.0:8100", "80/tcp -> 127.0.0.1:" + ports[1][-5:]]
    assert ports[2:5] == ["81/tcp -> 0.0.0.0:8101", "81/tcp -> 198.51.100.1:8102",
                          "5353/udp -> 0.0.0.0:8300"]
    (ephemeral,) = net.ok("port", "srv", "9000/tcp").split()
    loopback = ports[1].split(" -> ")[1]
    assert ephemeral.startswith("0.0.0.0:") and int(ephemeral.split(":")[1]) >= 1024
    assert net.wait_http("http://127.0.0.1:8100/") == "eighty\n"
    assert net.wait_http("http://127.0.0.1:8101/") == "other\n"
    assert net.wait_http(f"http://{loopback}/") == "eighty\n"
    assert net.wait_http(f"http://127.0.0.1:{ephemeral.split(':')[1]}/") == "other\n"
    assert udp_ask(net, 8300, "ping") == "echo ping"
    # a port published on one address: there, and on 127.0.0.1, and on no other address
    assert net.wait_http("http://198.51.100.1:8102/") == "other\n"
    assert net.wait_http("http://127.0.0.1:8102/") == "other\n"
    assert net.sh("curl -s --max-time 2 http://10.70.0.1:8102/").returncode != 0
    # from a container of another network (the default bridge), through the host's address
    other = net.lamina("run", "--rm", "bb", "busybox", "wget", "-q", "-O", "-",
                       "http://172.17.0.1:8100/")
    assert other.returncode == 0 and other.stdout == "eighty\n", other.stderr
    column = net.ok("ps", "--format", "{{.Ports}}", "--filter", "name=srv").strip()
    assert column.startswith("0.0.0.0:8100->80/tcp, 127.0.0.1:")
    assert column.endswith("0.0.0.0:8101->81/tcp, 198.51.100.1:8102->81/tcp, "
                           "0.0.0.0:8300->5353/udp, "
                           f"{ephemeral}->9000/tcp")
    # the table is written only when it changes; after someone else removed it, network
    # prune writes it again
    rules = net.nft()
    net.ok("run", "--rm", "--network", "pub", "bb", "true")
    assert net.nft() == rules
    assert net.sh("nft delete table ip lamina").returncode == 0
    assert net.sh("curl -s --max-time 2 http://127.0.0.1:8100/").returncode != 0
    net.ok("network", "prune", "-f")
    assert net.nft() == rules
    assert net.wait_http("http://127.0.0.1:8100/") == "eighty\n"
    missing = net.lamina("port", "srv", "1234")
    assert missing.returncode == 1
    assert missing.stderr == "Error: No public port '1234/tcp' published for srv\n"
    net.ok("rm", "-f", "srv")
    assert "dport" not in net.nft()
    assert net.sh("curl -s --max-time 2 http://127.0.0.1:8100/").returncode != 0


def test_network_options(net: Net) -> None:
    inside = net.ok("network", "create", "--internal", "--subnet", "10.60.0.0/24",
                    "--ip-range", "10.60.0.128/25", "-o",
                    "com.docker.network.bridge.name=lam-in0", "--label", "tier=back",
                    "inside").strip()
    net.ok("network", "create", "--subnet", "10.61.0.0/24", "front")
    assert net.ok("network", "ls", "--filter", "label=tier=back", "--format",
                  "{{.Name}} {{.Driver}} {{.Internal}} {{.Labels}}") == \
        "inside bridge true tier=back\n"
    assert net.ok("network", "ls", "--filter", "type=custom", "--format", "{{.Name}}") == \
        "front\ninside\n"
    assert net.ok("network", "ls", "-q", "--filter", "name=insi") == inside[:12] + "\n"
    builtin = net.ok("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}")
    assert builtin == "bridge\nhost\nnone\n"
    net.ok("run", "-d", "--name", "ca", "--network", "inside", "--mac-address",
           "02:11:22:33:44:55", "bb", "sleep", "60")
    net.ok("run", "-d", "--name", "cb", "--network", "inside", "bb", "sleep", "60")
    assert net.ok("exec", "ca", "cat", "/sys/class/net/eth0/address") == "02:11:22:33:44:55\n"
    shown = net.ok("network", "inspect", "-f", "{{range .Containers}}{{.Name}}="
                   "{{.IPv4Address}} {{end}}", "inside").split()
    assert sorted(shown) == ["ca=10.60.0.129/24", "cb=10.60.0.130/24"]
    assert "lam-in0" in net.links()
    (obj,) = json.loads(net.ok("network", "inspect", "inside"))
    assert obj["Internal"] is True
    assert obj["IPAM"]["Config"] == [{"Subnet": "10.60.0.0/24", "Gateway": "10.60.0.1",
                                      "IPRange": "10.60.0.128/25"}]
    assert obj["Options"] == {"com.docker.network.bridge.name": "lam-in0"}
    # an internal network's containers reach each other, by name too
    assert net.lamina("exec", "ca", "busybox", "ping", "-c1", "-W2", "cb").returncode == 0
    net.ok("rm", "-f", "ca", "cb")
    net.ok("network", "rm", "inside", "front")
    assert "lam-in0" not in net.links()


def test_outbound_nat_and_internal_networks(net: Net, tmp_path: Path) -> None:
    """A peer namespace stands for the world outside: a container on a bridge reaches it,
    masqueraded behind the namespace's address; one on an --internal network does not."""
    outer = NetNS()
    server = None
    try:
        setup = net.sh(f"ip link add vout0 type veth peer name vout1 netns {outer.name} && "
                       "ip addr add 192.0.2.1/24 dev vout0 && ip link set vout0 up")
        assert setup.returncode == 0, setup.stderr
        for argv in (["ip", "addr", "add", "192.0.2.2/24", "dev", "vout1"],
                     ["ip", "link", "set", "vout1", "up"]):
            assert outer.run(argv).returncode == 0
        log = open(tmp_path / "outer.log", "wb")  # noqa: SIM115 - the child keeps its copy
        server = outer.popen(["python3", "-m", "http.server", "--bind", "192.0.2.2", "18000"],
                             stdout=log, stderr=log, cwd=tmp_path)
        log.close()
        deadline = time.monotonic() + 10
        while outer.run(["curl", "-s", "-o", "/dev/null", "http://192.0.2.2:18000/"]
                        ).returncode != 0:
            assert time.monotonic() < deadline, "the outer server did not start"
            time.sleep(0.1)
        out = net.lamina("run", "--rm", "bb", "busybox", "wget", "-q", "-O", "-",
                         "http://192.0.2.2:18000/outer.log")
        assert out.returncode == 0, out.stderr
        seen = (tmp_path / "outer.log").read_text()
        assert '192.0.2.1 - - ' in seen and '"GET /outer.log HTTP/1.1" 200' in seen
        assert "172.17." not in seen  # masqueraded: the world never sees a bridge address
        net.ok("network", "create", "--internal", "sealed")
        sealed = net.lamina("run", "--rm", "--network", "sealed", "bb", "sh", "-c",
                            "busybox wget -q -T 2 -O - http://192.0.2.2:18000/ || echo cut")
        assert sealed.stdout.strip().endswith("cut"), sealed.stdout
        assert (tmp_path / "outer.log").read_text().count("192.0.2.1 - -") == 1
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        outer.delete()


def test_everything_works_again_after_a_restart_of_the_machine(net: Net) -> None:
    """A machine's restart, as lamina sees it: every process gone, the containers' pinned
    namespaces unmounted, and a fresh network namespace without bridges or rules; the store
    still says what ran. The next commands settle it, and published ports work again."""
    net.ok("network", "create", "--subnet", "10.90.0.0/24", "kk")
    net.ok("run", "-d", "--name", "v1", "--network", "kk", "-p", "8086:80", "bb", "sh", "-c",
           "mkdir -p /w && echo before > /w/index.html && exec busybox httpd -f -p 80 -h /w")
    assert net.wait_http("http://127.0.0.1:8086/") == "before\n"
    pid = int(net.ok("inspect", "-f", "{{.State.Pid}}", "v1"))
    cid = net.ok("inspect", "-f", "{{.Id}}", "v1").strip()
    monitor = int((net.root / "containers" / cid / "monitor.pid").read_text())
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    subprocess.run(["umount", "-l", str(net.root / "containers" / cid / "netns")], check=True)
    net.ns.delete()
    net.ns = NetNS()  # (the fixture deletes this one too)
    # a new container takes the port of the one that did not end cleanly
    net.ok("run", "-d", "--name", "w1", "--network", "kk", "-p", "8086:80", "bb", "sh", "-c",
           "mkdir -p /w && echo after > /w/index.html && exec busybox httpd -f -p 80 -h /w")
    assert net.wait_http("http://127.0.0.1:8086/") == "after\n"
    assert net.ok("ps", "-a", "--format", "{{.Names}} {{.State}}").split("\n")[:2] == \
        ["w1 running", "v1 exited"]
    state = json.loads((net.root / "networks" / "state.json").read_text())
    assert [e["Name"] for e in state["endpoints"].values()] == ["w1"]
    net.ok("rm", "-f", "w1", "v1")
    assert [link for link in net.links() if link.startswith("veth")] == []
    assert "dport" not in net.nft()
