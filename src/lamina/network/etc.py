"""A container's /etc/hosts and /etc/resolv.conf, as docker writes them.

Name resolution between containers on a user network works through /etc/hosts: each
container's file lists every other container of its networks (IP, name, aliases, short ID),
and is rewritten in place (the file is bind-mounted: its inode must stay) whenever a container
joins or leaves. glibc and musl both read /etc/hosts on every lookup, so no resolver needs
configuring and no daemon answers DNS; names of containers that start later appear in the
files of those already running.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

LOCALHOST = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
             "ff02::2\tip6-allrouters\n")
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # docker's, when the host has only local nameservers


def extra_host_lines(extra_hosts: Iterable[str], gateway: str | None) -> str:
    """``--add-host name:ip`` (or ``name=ip``) lines; ``host-gateway`` is the gateway."""
    out = []
    for entry in extra_hosts:
        name, address = split_host(entry)
        if address == "host-gateway":
            address = gateway or "127.0.0.1"
        out.append(f"{address}\t{name}\n")
    return "".join(out)


def split_host(entry: str) -> tuple[str, str]:
    import ipaddress

    from lamina.errors import InvalidArgument

    if "=" in entry:
        name, _, address = entry.partition("=")
    else:
        name, _, address = entry.partition(":")
    address = address.strip("[]")
    if not name or not address:
        raise InvalidArgument(f"invalid argument \"{entry}\" for \"--add-host\" flag: bad "
                              f"format for add-host: \"{entry}\"")
    if address != "host-gateway":
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidArgument(f"invalid argument \"{entry}\" for \"--add-host\" flag: "
                                  f"invalid IP address in add-host: \"{address}\"") from None
    return name, address


def resolv_conf(host_text: str, *, dns: Sequence[str] = (), search: Sequence[str] = (),
                options: Sequence[str] = (), network: str = "bridge") -> str:
    """docker's resolv.conf: the host's, without loopback nameservers (a container cannot reach
    them), 8.8.8.8/8.8.4.4 if none is left; --dns, --dns-search, --dns-option replace theirs."""
    lines = host_text.splitlines()
    servers = [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    host_search = [w for ln in lines if ln.startswith(("search", "domain")) for w in ln.split()[1:]]
    host_options = [w for ln in lines if ln.startswith("options") for w in ln.split()[1:]]
    if network != "host":
        servers = [s for s in servers if not s.startswith("127.") and s != "::1"]
        if not servers:
            servers = list(FALLBACK_DNS)
    if dns:
        servers = list(dns)
    out = "".join(f"nameserver {s}\n" for s in servers)
    chosen_search = list(search) if search else host_search
    chosen_search = [s for s in chosen_search if s != "."]
    if chosen_search:
        out += "search " + " ".join(chosen_search) + "\n"
    chosen_options = list(options) if options else host_options
    if chosen_options:
        out += "options " + " ".join(chosen_options) + "\n"
    return out


def host_resolv() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


def write_in_place(path: Path, text: str) -> None:
    """Rewrite a bind-mounted file through its inode (a rename would leave the container with
    the old file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        data = memoryview(text.encode())
        os.ftruncate(fd, 0)
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, data[offset:], offset)
    finally:
        os.close(fd)
