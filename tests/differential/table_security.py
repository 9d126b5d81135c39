"""Rows of the differential table for what docker users assume of a container: seccomp and
--security-opt, --privileged, supplementary groups and --group-add, the files a program
expects, --read-only, and the commands attach, update, exec's flags, version and info.
(``table.CASES`` takes them in; see its docstring for the fields.)"""

from __future__ import annotations

from .table import Case

# The process's seccomp mode, from /proc/self/status (the tests' busybox has no grep).
SECCOMP = 'while read k v; do case $k in "$FIELD:") echo $v;; esac; done < /proc/self/status'
BOX_ALICE = ["run", "-d", "--name", "box", "-u", "alice", "--group-add", "77", "busybox",
             "sleep", "300"]
RUN_BOX = ["run", "-d", "--name", "box", "busybox", "sleep", "300"]


def status(field: str, *flags: str) -> list[str]:
    return ["run", "--rm", "-e", f"FIELD={field}", *flags, "busybox", "sh", "-c", SECCOMP]


SECURITY_CASES: list[Case] = [
    # --- seccomp, --security-opt, --privileged ------------------------------------------------
    Case("seccomp-default", status("Seccomp"), out="2\n", containers=True, issue="seccomp"),
    Case("seccomp-unconfined", status("Seccomp", "--security-opt", "seccomp=unconfined"),
         out="0\n", containers=True, issue="seccomp"),
    Case("no-new-privileges", status("NoNewPrivs", "--security-opt", "no-new-privileges"),
         out="1\n", containers=True, issue="seccomp"),
    Case("privileged-no-seccomp", status("Seccomp", "--privileged"), out="0\n",
         containers=True, issue="seccomp",
         peer="dockerd asks for every capability, and this machine's root lacks "
              "CAP_SYS_RESOURCE (runc: 'unable to apply caps'); lamina gives those it has"),
    Case("security-opt-invalid", ["run", "--rm", "--security-opt", "foo", "busybox", "true"],
         code=125, out="", err='Invalid --security-opt: "foo"', issue="seccomp"),
    Case("security-opt-missing-profile",
         ["run", "--rm", "--security-opt", "seccomp={tmp}/none.json", "busybox", "true"],
         code=125, out="", err=r"opening seccomp profile \(\{tmp\}/none.json\) failed",
         issue="seccomp"),

    # --- supplementary groups ---------------------------------------------------------------
    Case("run-id-groups", ["run", "--rm", "busybox", "id"],
         out="uid=0(root) gid=0(root) groups=0(root)\n", containers=True, issue="groups"),
    Case("run-id-uid-gid", ["run", "--rm", "-u", "1000:1000", "busybox", "id"],
         out="uid=1000(alice) gid=1000(alice) groups=1000(alice)\n", containers=True,
         issue="groups"),
    Case("run-group-add", ["run", "--rm", "--group-add", "staff", "--group-add", "77",
                           "busybox", "id"],
         out="uid=0(root) gid=0(root) groups=0(root),50(staff),77\n", containers=True,
         issue="groups"),
    Case("run-group-add-nosuch", ["run", "--rm", "--group-add", "nosuch", "busybox", "id"],
         code=125, out="", err="Unable to find group nosuch: no matching entries in group file",
         containers=True, issue="groups"),
    Case("exec-id-groups", ["exec", "box", "id"], setup=[BOX_ALICE],
         out="uid=1000(alice) gid=1000(alice) groups=50(staff),77,1000(alice)\n",
         containers=True, issue="groups"),
    Case("exec-user-group-add", ["exec", "-u", "0", "box", "id"], setup=[BOX_ALICE],
         out="uid=0(root) gid=0(root) groups=0(root),77\n", containers=True, issue="groups"),
    Case("build-run-groups", ["run", "--rm", "grp", "cat", "/id"],
         files={"ctx/Dockerfile": "FROM busybox\nRUN id > /id\n"},
         setup=[["build", "-q", "-t", "grp", "{tmp}/ctx"]],
         out="uid=0(root) gid=0(root) groups=0(root)\n", containers=True, issue="groups"),

    # --- the files a program expects, --read-only ---------------------------------------------
    Case("dockerenv", ["run", "--rm", "busybox", "test", "-f", "/.dockerenv"],
         out="", containers=True, issue="files"),
    Case("etc-mtab", ["run", "--rm", "busybox", "stat", "-c", "%N", "/etc/mtab"],
         out="'/etc/mtab' -> '/proc/mounts'\n", containers=True, issue="files"),
    Case("hosts-no-network", ["run", "--rm", "--network", "none", "busybox", "cat",
                              "/etc/hosts"],
         out="127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
             "ff02::2\tip6-allrouters\n", containers=True, issue="files"),
    Case("dev-console-with-t", ["run", "--rm", "-t", "busybox", "test", "-c", "/dev/console"],
         out="", containers=True, issue="files"),
    Case("read-only-etc-hosts", ["run", "--rm", "--read-only", "busybox", "sh", "-c",
                                 "echo x >> /etc/hosts"],
         code=1, out="", err="can't create /etc/hosts: Read-only file system",
         containers=True, issue="read-only"),

    # --- attach, update, version, info ---------------------------------------------------------
    Case("attach-stopped", ["attach", "three"],
         setup=[["create", "--name", "three", "busybox", "sh", "-c", "exit 3"]], code=1,
         out="", err="You cannot attach to a stopped container, start it first\n$",
         issue="attach"),
    Case("update-limits", ["update", "-m", "64m", "--memory-swap", "128m", "--pids-limit",
                           "50", "box"],
         setup=[RUN_BOX], out="box\n", containers=True, issue="update"),
    Case("update-on-record", ["inspect", "-f", "{{.HostConfig.Memory}} "
                              "{{.HostConfig.PidsLimit}}", "box"],
         setup=[RUN_BOX, ["update", "-m", "64m", "--memory-swap", "128m", "--pids-limit",
                          "50", "box"]],
         out="67108864 50\n", containers=True, issue="update"),
    Case("update-no-flags", ["update", "box"], setup=[RUN_BOX], code=1, out="",
         err="you must provide one or more flags when using this command", containers=True,
         issue="update"),
    Case("version-format", ["version", "--format", "{{.Client.Os}} {{.Server.Os}}"],
         out="linux linux\n", issue="version"),
    Case("info-format", ["info", "--format", "{{.OSType}} {{.Architecture}}"],
         out_re=r"linux \S+\n", issue="info"),
    Case("info-seccomp", ["info", "--format", "{{json .SecurityOptions}}"],
         out_re=r'\[(.*,)?"name=seccomp,profile=(default|builtin)"(,.*)?\]\n', issue="info"),
]


def _apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().startswith("Y")
    except OSError:
        return False


def _selinux_enabled() -> bool:
    import os

    return os.path.exists("/sys/fs/selinux/enforce")


# --security-opt apparmor= and label=, as docker keeps them on a host without the module:
# on record, and nothing applied (docker's daemon drops them there; so does lamina)
SECURITY_CASES += [
    Case("apparmor-asked-on-record", ["inspect", "-f", "{{.AppArmorProfile}}|"
                                      "{{.HostConfig.SecurityOpt}}", "aa"],
         setup=[["create", "--name", "aa", "--security-opt", "apparmor=lamina-test",
                 "busybox", "true"]],
         out="lamina-test|[apparmor=lamina-test]\n", issue="seccomp"),
    # once started, the profile it ran under: none where the host has no AppArmor
    Case("apparmor-after-start", ["inspect", "-f", "{{.AppArmorProfile}}", "aa"],
         setup=[["run", "--name", "aa", "--security-opt", "apparmor=unconfined", "busybox",
                 "true"]],
         out="unconfined\n" if _apparmor_enabled() else "\n", containers=True,
         issue="seccomp"),
    Case("apparmor-empty", ["run", "--rm", "--security-opt", "apparmor=", "busybox", "true"],
         code=125, out="", err='Invalid --security-opt: "apparmor="', issue="seccomp"),
]
if not _selinux_enabled():
    SECURITY_CASES += [
        Case("label-on-record", ["inspect", "-f", "{{.HostConfig.SecurityOpt}} "
                                 "{{.ProcessLabel}}|{{.MountLabel}}", "lab"],
             setup=[["run", "--name", "lab", "--security-opt", "label=disable",
                     "--security-opt", "label=user:nobody_u", "--security-opt", "label=bogus",
                     "busybox", "true"]],
             out="[label=disable label=user:nobody_u label=bogus] |\n", containers=True,
             issue="seccomp"),
        Case("label-no-value", ["create", "--security-opt", "label", "busybox", "true"],
             code=125, out="", err='Invalid --security-opt: "label"', issue="seccomp"),
    ]

RUN_UB = ["run", "-d", "--name", "ub", "busybox", "sleep", "300"]
SECURITY_CASES += [
    Case(f"update-{name}", ["update", *flags, "ub"], setup=[RUN_UB], code=1, out="", err=err,
         containers=True, issue="update")
    for name, flags, err in (
        ("restart-count-not-a-number", ["--restart", "on-failure:x"],
         "invalid restart policy format: maximum retry count must be an integer"),
        ("restart-count-with-always", ["--restart", "always:3"],
         "maximum retry count cannot be used with restart policy 'always'"),
        ("restart-count-negative", ["--restart", "on-failure:-1"],
         "maximum retry count cannot be negative"),
        ("cpus-more-than-there-are", ["--cpus", "1000"],
         r"Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available"),
    )
]
