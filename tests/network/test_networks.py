"""Container networks, each test in a network namespace of its own: the default bridge
(isolation from the host's loopback, address, route, /etc files), user networks (names and
aliases between containers), published ports, connect/disconnect, nothing left after rm or a
killed monitor, concurrency of IPAM, and bad input that changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from network.conftest import Net

HTTPD = "mkdir -p /www && echo hello from $(hostname) > /www/index.html && " \
    "exec busybox httpd -f -p 80 -h /www"


def test_default_bridge(net: Net) -> None:
    # a server on the namespace's loopback: reachable with --network host only
    server = net.ns.popen(["python3", "-m", "http.server", "--bind", "127.0.0.1", "18080"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        net.wait_http("http://127.0.0.1:18080/")
        done = net.lamina("run", "--rm", "--hostname", "box", "--add-host", "db:10.1.2.3",
                          "--add-host", "gw:host-gateway", "--dns", "10.0.0.53",
                          "--dns-search", "example.org", "bb", "sh", "-c",
                          "ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf;"
                          " busybox wget -q -T 2 -O - http://127.0.0.1:18080/ || echo isolated")
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "inet 172.17.0.2/16" in out
        assert "default via 172.17.0.1 dev eth0" in out
        assert "10.1.2.3\tdb\n172.17.0.1\tgw\n172.17.0.2\tbox\n" in out
        assert "nameserver 10.0.0.53\nsearch example.org\n" in out
        assert out.rstrip().endswith("isolated")
        host = net.lamina("run", "--rm", "--network", "host", "bb", "busybox", "wget", "-q",
                          "-O", "-", "http://127.0.0.1:18080/")
        assert host.returncode == 0 and "Directory listing" in host.stdout
    finally:
        server.terminate()
        server.wait()
    # the container has gone: its veth, namespace and address with it
    assert [link for link in net.links() if link.startswith("veth")] == []
    state = json.loads((net.root / "networks" / "state.json").read_text())
    assert state["endpoints"] == {}


def test_user_network_names_ports_and_cleanup(net: Net) -> None:
    net_id = net.ok("network", "create", "--subnet", "10.88.0.0/24", "--label", "a=b",
                    "app").strip()
    assert len(net_id) == 64
    web = net.ok("run", "-d", "--name", "web", "--network", "app", "--network-alias", "www",
                 "--ip", "10.88.0.50", "-p", "8080:80", "-p", "127.0.0.1:8081:80/tcp", "bb",
                 "sh", "-c", HTTPD).strip()
    assert net.wait_http("http://127.0.0.1:8080/") == f"hello from {web[:12]}\n"
    assert net.wait_http("http://127.0.0.1:8081/") == f"hello from {web[:12]}\n"
    # from the namespace's own address on the bridge, and from another container
    assert net.wait_http("http://10.88.0.1:8080/") == f"hello from {web[:12]}\n"
    client = net.lamina("run", "--rm", "--network", "app", "bb", "sh", "-c",
                        "busybox wget -q -O - http://web/; busybox wget -q -O - http://www/;"
                        f" busybox wget -q -O - http://{web[:12]}/;"
                        " busybox wget -q -O - http://10.88.0.1:8080/")
    assert client.returncode == 0, client.stderr
    assert client.stdout == f"hello from {web[:12]}\n" * 4
    ps = net.ok("ps", "--format", "{{.Names}}|{{.Ports}}|{{.Networks}}")
    assert ps == "web|0.0.0.0:8080->80/tcp, 127.0.0.1:8081->80/tcp|app\n"
    assert net.ok("port", "web") == "80/tcp -> 0.0.0.0:8080\n80/tcp -> 127.0.0.1:8081\n"
    # ps's publish= takes the host's port, expose= the container's (docker's, since 20.10)
    assert net.ok("ps", "--filter", "publish=8081", "--format", "{{.Names}}") == "web\n"
    assert net.ok("ps", "--filter", "publish=80", "--format", "{{.Names}}") == ""
    assert net.ok("ps", "--filter", "expose=80", "--format", "{{.Names}}") == "web\n"
    assert net.ok("port", "web", "80") == "0.0.0.0:8080\n127.0.0.1:8081\n"
    settings = json.loads(net.ok("inspect", "-f", "{{json .NetworkSettings}}", "web"))
    app = settings["Networks"]["app"]
    assert (app["IPAddress"], app["Gateway"], app["IPPrefixLen"]) == ("10.88.0.50",
                                                                       "10.88.0.1", 24)
    assert app["MacAddress"] == "02:42:0a:58:00:32" and app["NetworkID"] == net_id
    assert app["Aliases"] == ["www", web[:12]] and app["DNSNames"] == ["web", "www", web[:12]]
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                                            {"HostIp": "127.0.0.1", "HostPort": "8081"}]}
    (inspected,) = json.loads(net.ok("network", "inspect", "app"))
    assert inspected["IPAM"]["Config"] == [{"Subnet": "10.88.0.0/24", "Gateway": "10.88.0.1"}]
    assert inspected["Containers"][web]["IPv4Address"] == "10.88.0.50/24"
    assert inspected["Labels"] == {"a": "b"}
    # a port taken by a container, or by the host, is docker's error; nothing is left
    taken = net.lamina("run", "-d", "--network", "app", "-p", "8080:80", "bb", "sleep", "9")
    assert taken.returncode == 125
    assert "Bind for 0.0.0.0:8080 failed: port is already allocated" in taken.stderr
    listener = net.ns.popen(["python3", "-c", "import socket,time; s=socket.socket(); "
                             "s.bind(('0.0.0.0', 8090)); s.listen(); time.sleep(30)"])
    try:
        time.sleep(0.5)
        busy = net.lamina("run", "-d", "-p", "8090:80", "bb", "sleep", "9")
        assert busy.returncode == 125 and "address already in use" in busy.stderr
    finally:
        listener.kill()
        listener.wait()
    assert net.ok("ps", "-q") == web[:12] + "\n"
    # in use: the network stays
    in_use = net.lamina("network", "rm", "app")
    assert in_use.returncode == 1 and "has active endpoints" in in_use.stderr
    net.ok("rm", "-f", "web")
    assert "dnat" not in net.nft().replace("ct status dnat", "")
    assert [link for link in net.links() if link.startswith("veth")] == []
    assert net.ok("network", "rm", "app") == "app\n"
    assert not any(link.startswith("br-") for link in net.links())
    assert "app" not in net.ok("network", "ls")


def test_connect_disconnect(net: Net) -> None:
    net.ok("network", "create", "front")
    net.ok("network", "create", "back")
    net.ok("run", "-d", "--name", "db", "--network", "back", "bb", "sleep", "60")
    net.ok("run", "-d", "--name", "api", "--network", "front", "bb", "sleep", "60")
    assert net.lamina("exec", "api", "busybox", "ping", "-c1", "-W1", "db").returncode != 0
    # networks are isolated from each other: not even by address through the host
    db_ip = net.ok("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "db")
    assert net.lamina("exec", "api", "busybox", "ping", "-c1", "-W1",
                      db_ip.strip()).returncode != 0
    net.ok("network", "connect", "--alias", "service", "back", "api")
    again = net.lamina("network", "connect", "back", "api")
    assert again.returncode == 1 and "already exists in network back" in again.stderr
    assert net.lamina("exec", "api", "busybox", "ping", "-c1", "-W2", "db").returncode == 0
    assert net.lamina("exec", "db", "busybox", "ping", "-c1", "-W2", "service").returncode == 0
    links = net.ok("exec", "api", "cat", "/proc/net/dev")
    assert "eth0" in links and "eth1" in links
    nets = net.ok("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} "
                  "{{end}}", "api")
    assert nets.split() == ["back", "front"]
    net.ok("network", "disconnect", "back", "api")
    assert "eth1" not in net.ok("exec", "api", "cat", "/proc/net/dev")
    assert "service" not in net.ok("exec", "db", "cat", "/etc/hosts")
    gone = net.lamina("network", "disconnect", "back", "api")
    assert gone.returncode == 1 and "is not connected to network back" in gone.stderr


def _monitor_of(pid: int) -> int:
    """The container's monitor: its init's parent is runc, whose parent is the monitor."""
    def parent(p: int) -> int:
        return int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1])

    return parent(parent(pid))


def test_nothing_left_after_kill_9_of_the_monitor(net: Net) -> None:
    net.ok("network", "create", "k9")
    net.ok("run", "-d", "--name", "victim", "--network", "k9", "-p", "8085:80", "bb",
           "sleep", "300")
    pid = int(net.ok("inspect", "-f", "{{.State.Pid}}", "victim"))
    monitor = _monitor_of(pid)
    cdir = net.root / "containers" / net.ok("inspect", "-f", "{{.Id}}", "victim").strip()
    assert os.path.ismount(cdir / "netns")
    os.kill(monitor, signal.SIGKILL)
    time.sleep(0.2)
    # the next command cleans up: the orphan ends, its endpoint, veth, rules and namespace go
    pruned = net.ok("network", "prune", "-f")
    assert pruned == "Deleted Networks:\nk9\n\n"
    assert net.ok("ps", "-a", "--format", "{{.Names}} {{.State}}") == "victim exited\n"
    assert not os.path.exists(f"/proc/{pid}")
    assert not os.path.ismount(cdir / "netns")
    assert [link for link in net.links() if link.startswith(("veth", "br-"))] == []
    assert "8085" not in net.nft()


def test_bad_network_input_changes_nothing(net: Net) -> None:
    net.ok("network", "create", "--subnet", "10.20.0.0/16", "one")
    net.ok("run", "-d", "--name", "c1", "--network", "one", "bb", "sleep", "60")
    before = (net.ok("network", "ls"), (net.root / "networks" / "state.json").read_text())
    cases = [
        (("network", "create", "--subnet", "10.20.5.0/24", "two"),
         "Pool overlaps with other one on this address space"),
        (("network", "create", "--subnet", "10.30.0.0/24", "--gateway", "10.31.0.1", "two"),
         "no matching subnet for gateway 10.31.0.1"),
        (("network", "create", "--subnet", "10.30.0.0/24", "--ip-range", "10.40.0.0/24",
          "two"), "no matching subnet for range 10.40.0.0/24"),
        (("network", "create", "--subnet", "nonsense", "two"), "invalid CIDR address"),
        (("network", "create", "one"), "network with name one already exists"),
        (("network", "create", "host"), "network with name host already exists"),
        (("network", "create", "-d", "overlay", "two"), 'plugin "overlay" not found'),
        (("network", "connect", "one", "c1"), "endpoint with name c1 already exists"),
        (("network", "rm", "one"), "has active endpoints"),
        (("network", "rm", "bridge"), "bridge is a pre-defined network and cannot be removed"),
        (("network", "rm", "nothere"), "network nothere not found"),
        (("run", "--rm", "--network", "nothere", "bb", "true"), "network nothere not found"),
        (("run", "--rm", "-p", "0:80", "bb", "true"), "invalid hostPort: 0"),
        (("run", "--rm", "-p", "70000:80", "bb", "true"), "invalid hostPort: 70000"),
        (("run", "--rm", "-p", "80/icmp", "bb", "true"), "invalid proto: icmp"),
        (("run", "--rm", "-p", "8000-8002:80-81", "bb", "true"), "invalid ranges specified"),
        (("run", "--rm", "--ip", "10.20.0.9", "bb", "true"),
         "user specified IP address is supported on user defined networks only"),
        (("run", "--rm", "--network", "one", "--ip", "10.99.0.9", "bb", "true"),
         "no configured subnet contains IP address 10.99.0.9"),
        (("run", "--rm", "--network-alias", "x", "bb", "true"),
         "network-scoped alias is supported only"),
        (("run", "--rm", "--mac-address", "zz", "bb", "true"), "is not a valid mac address"),
        (("run", "--rm", "--add-host", "nocolon", "bb", "true"), "bad format for add-host"),
        (("run", "--rm", "--dns", "not-an-ip", "bb", "true"), "not-an-ip is not an ip address"),
    ]
    for argv, words in cases:
        done = net.lamina(*argv)
        assert done.returncode == (125 if argv[0] == "run" else 1), (argv, done.returncode)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (argv, done.stderr)
        assert "Traceback" not in done.stderr
    after = (net.ok("network", "ls"), (net.root / "networks" / "state.json").read_text())
    assert after == before
    assert net.ok("ps", "-aq").split() == [net.ok("inspect", "-f", "{{.Id}}", "c1")[:12]]


@pytest.mark.slow
def test_fifty_containers_get_fifty_addresses(net: Net) -> None:
    net.ok("network", "create", "--subnet", "10.50.0.0/24", "many")

    def start(i: int) -> subprocess.CompletedProcess[str]:
        return net.lamina("run", "-d", "--name", f"c{i}", "--network", "many", "bb",
                          "sleep", "120")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(start, range(50)))
    assert [r.stderr for r in results if r.returncode != 0] == []
    addresses = net.ok("network", "inspect", "-f",
                       "{{range .Containers}}{{.IPv4Address}} {{end}}", "many").split()
    assert len(addresses) == 50 and len(set(addresses)) == 50
    hosts = net.ok("exec", "c0", "cat", "/etc/hosts")
    assert all(f"\tc{i} " in hosts for i in range(1, 50))
    net.ok("rm", "-f", *[f"c{i}" for i in range(50)])
    assert [link for link in net.links() if link.startswith("veth")] == []


WARM_SCRIPT = """
import os, signal, sys
from pathlib import Path
from lamina.network import netlink
from lamina.network.netlink import Bridge, Plug

pin = Path(sys.argv[1])
netlink.warm()
worker = netlink._WARM.worker.pid
os.kill(worker, signal.SIGKILL)
os.waitpid(worker, 0)
plug = Plug(veth="vethwarm0", ifname="eth0", bridge="lamwarm0", address="10.99.0.2", prefix=24,
            gateway="10.99.0.1", mac="02:42:0a:63:00:02", first=True)
netlink.make_namespace(pin, [plug], [Bridge("lamwarm0", "10.99.0.1", 24)])
print(os.path.ismount(pin), netlink.link_exists("lamwarm0"), netlink.link_exists("vethwarm0"))
netlink.remove_namespace(pin)
netlink.remove_link("lamwarm0")
print(netlink.link_exists("lamwarm0"))
"""


def test_a_warm_child_that_died_is_done_without(net: Net, tmp_path: Path) -> None:
    """The child forked ahead for a start's netlink work was killed before it was asked: a
    child forked then does the work, and the start goes on."""
    done = net.ns.run([sys.executable, "-c", WARM_SCRIPT, str(tmp_path / "pin")], env=net.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True True True\nFalse\n"
    assert "lamwarm0" not in net.links()
