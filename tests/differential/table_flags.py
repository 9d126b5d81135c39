"""Rows of the differential table for run/create's flags, ``--flag=false``, ps filters, logs
--since/--until and build's flags (``table.CASES`` takes them in). Each expectation is what
docker 28's CLI gave against a dockerd on this kind of machine (cgroup v1, no block I/O
weight, root without CAP_SYS_RESOURCE), or docker's documentation where it says."""

from __future__ import annotations

import os

from .table import Case

RUN_BOX = ["run", "-d", "--name", "box", "busybox", "sleep", "300"]


def _blkio_weight_supported() -> bool:
    return any(os.path.exists(f"/sys/fs/cgroup/{path}") for path in (
        "blkio/blkio.weight", "blkio/blkio.bfq.weight", "io.weight", "io.bfq.weight"))


def _bad(id: str, flags: list[str], err: str, code: int = 125) -> Case:
    """``run FLAGS busybox true`` refused before anything is made."""
    return Case(id, ["run", *flags, "busybox", "true"], code=code, out="", err=err,
                issue="run flags")


FLAG_CASES: list[Case] = [
    # --- --flag=false on every switch (pflag) ------------------------------------------------
    Case("flag-false-run", ["ps", "-a", "--format", "{{.Names}}"],
         setup=[["run", "--rm=false", "-d=false", "--name", "kept", "busybox", "true"]],
         out="kept\n", containers=True, issue="--flag=false"),
    Case("flag-false-image-prune", ["image", "prune", "-f", "--all=false"],
         out="Total reclaimed space: 0B\n", issue="--flag=false"),
    Case("flag-false-commit-pause", ["commit", "--pause=false", "box", "snap:1"],
         setup=[RUN_BOX], out="sha256:<id>\n", containers=True, issue="--flag=false"),
    Case("flag-not-a-bool", ["run", "--rm=maybe", "busybox", "true"], code=125, out="",
         err='^invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": '
             'invalid syntax\n', issue="--flag=false"),

    # --- values refused as docker refuses them -----------------------------------------------
    _bad("restart-with-rm", ["--rm", "--restart", "always"],
         "conflicting options: cannot specify both --restart and --rm"),
    _bad("restart-no-such-policy", ["--restart", "sometimes"],
         "invalid restart policy 'sometimes'"),
    _bad("restart-count-not-a-number", ["--restart", "on-failure:x"],
         "invalid restart policy format: maximum retry count must be an integer"),
    _bad("restart-count-with-always", ["--restart", "always:3"],
         "maximum retry count cannot be used with restart policy 'always'"),
    _bad("restart-count-negative", ["--restart", "on-failure:-1"],
         "maximum retry count cannot be negative"),
    _bad("pull-bad-policy", ["--pull", "often"],
         "invalid pull option: 'often': must be one of \"always\", \"missing\" or \"never\""),
    Case("pull-never-missing", ["run", "--pull", "never", "nosuch:1", "true"], code=125, out="",
         err="No such image: nosuch:1", issue="run flags"),
    _bad("gpus-without-driver", ["--gpus", "all"],
         'could not select device driver "" with capabilities: \\[\\[gpu\\]\\]'),
    _bad("ulimit-not-a-number", ["--ulimit", "nofile=x"],
         'invalid argument "nofile=x" for "--ulimit" flag: strconv.ParseInt: parsing "x": '
         "invalid syntax"),
    _bad("ulimit-no-such-type", ["--ulimit", "nosuch=1"],
         'invalid argument "nosuch=1" for "--ulimit" flag: invalid ulimit type: nosuch'),
    _bad("attach-no-such-stream", ["-a", "stdnothing"],
         'invalid argument "stdnothing" for "-a, --attach" flag: valid streams are STDIN, '
         "STDOUT and STDERR"),
    _bad("attach-and-detach", ["-d", "-a", "stdout"],
         "^conflicting options: cannot specify both --attach and --detach\n$", code=1),
    _bad("memory-swap-without-memory", ["--memory-swap", "128m"],
         "You should always set the Memory limit when using Memoryswap limit, see usage"),
    _bad("cpus-and-cpu-period", ["--cpus", "1", "--cpu-period", "100000"],
         "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    _bad("no-healthcheck-and-health-cmd", ["--no-healthcheck", "--health-cmd", "true"],
         "--no-healthcheck conflicts with --health-\\* options"),
    _bad("health-interval-not-a-duration", ["--health-interval", "soon", "--health-cmd", "true"],
         'invalid argument "soon" for "--health-interval" flag: time: invalid duration '
         '"soon"'),
    Case("cidfile-found", ["run", "--cidfile", "{tmp}/cid", "busybox", "true"],
         files={"cid": "x"}, code=125, out="",
         err="container ID file found, make sure the other container isn't running or "
             "delete {tmp}/cid", issue="run flags"),
    (_bad("blkio-weight-out-of-range", ["--blkio-weight", "5"],
          "Range of blkio weight is from 10 to 1000") if _blkio_weight_supported() else
     Case("blkio-weight-discarded", ["run", "--rm", "--blkio-weight", "5", "busybox", "true"],
          out="", err="^WARNING: Your kernel does not support Block I/O weight or the cgroup is "
                      "not mounted. Weight discarded.\n$", containers=True, issue="run flags")),
    Case("oom-kill-disable-warning", ["run", "--rm", "--oom-kill-disable", "busybox", "true"],
         out="", err="^WARNING: OOM killer is disabled for the container, but no memory limit "
                     "is set, this can result in the system running out of resources.\n$",
         containers=True, issue="run flags"),

    # --- what the flags set, as inspect shows it ---------------------------------------------
    Case("create-config-fields",
         ["inspect", "-f", "{{.Config.StopSignal}}_{{.Config.StopTimeout}}_"
          "{{.Config.Domainname}}_{{.Config.Labels.team}}_{{index .Config.Healthcheck.Test 1}}_"
          "{{.Config.Healthcheck.Retries}}", "s1"],
         setup=[["create", "--name", "s1", "--stop-signal", "USR1", "--stop-timeout", "3",
                 "--domainname", "example.org", "--label-file", "{tmp}/labels", "--health-cmd",
                 "exit 0", "--health-interval", "2s", "--health-retries", "3", "busybox",
                 "true"]],
         files={"labels": "# a comment\nteam=core\n"}, out="USR1_3_example.org_core_exit 0_3\n",
         issue="run flags"),
    Case("create-hostconfig-defaults",
         ["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.ShmSize}} "
          "{{.HostConfig.LogConfig.Type}}", "d1"],
         setup=[["create", "--name", "d1", "busybox", "true"]],
         out="no 67108864 json-file\n", issue="run flags"),
    Case("create-restart-policy",
         ["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:"
          "{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Init}}", "r1"],
         setup=[["create", "--name", "r1", "--restart", "on-failure:2", "--init", "busybox",
                 "true"]],
         out="on-failure:2 true\n", issue="run flags"),

    # --- what the flags do, seen from inside the container -----------------------------------
    Case("attach-stdout-only", ["run", "--rm", "-a", "stdout", "busybox", "sh", "-c",
                                "echo out; echo err >&2"],
         out="out\n", err="", containers=True, issue="run flags"),
    Case("ulimit-in-container", ["run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh",
                                 "-c", "ulimit -n; ulimit -Hn"],
         out="100\n200\n", containers=True, issue="run flags"),
    Case("shm-size", ["run", "--rm", "--shm-size", "1m", "busybox", "sh", "-c",
                      "busybox df -k /dev/shm"],
         out="Filesystem           1K-blocks      Used Available Use% Mounted on\n"
             "shm                       1024         0      1024   0% /dev/shm\n",
         containers=True, issue="run flags"),
    Case("tmpfs-options", ["run", "--rm", "--tmpfs", "/t", "busybox", "sh", "-c",
                           'busybox grep " /t " /proc/mounts'],
         out="tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime 0 0\n", containers=True,
         issue="run flags"),
    Case("mount-tmpfs", ["run", "--rm", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m",
                         "busybox", "sh", "-c", 'busybox grep " /m " /proc/mounts'],
         out="tmpfs /m tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k 0 0\n",
         containers=True, issue="run flags"),
    Case("pid-private", ["run", "--rm", "busybox", "sh", "-c", "echo $$"], out="1\n",
         containers=True, issue="run flags"),
    Case("pid-host", ["run", "--rm", "--pid", "host", "busybox", "sh", "-c", "echo $$"],
         out_re=r"(?!1\n)\d+\n", containers=True, issue="run flags"),
    Case("uts-host", ["run", "--rm", "--uts", "host", "busybox", "hostname"],
         out=os.uname().nodename + "\n", containers=True, issue="run flags"),
    Case("domainname", ["run", "--rm", "--domainname", "example.org", "busybox", "cat",
                        "/proc/sys/kernel/domainname"],
         out="example.org\n", containers=True, issue="run flags"),
    Case("ipc-none", ["run", "--rm", "--ipc", "none", "busybox", "sh", "-c",
                      "busybox grep -c /dev/shm /proc/mounts"],
         code=1, out="0\n", containers=True, issue="run flags"),
    Case("device", ["run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "ls", "-l",
                    "/dev/mynull"],
         out_re=r"crw-rw-rw-  1 root  root  1,  3 .*/dev/mynull\n", containers=True,
         issue="run flags"),
    Case("init-is-pid-1", ["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"],
         out="/sbin/docker-init\0--\0cat\0/proc/1/cmdline\0", containers=True,
         issue="run flags"),
    # --init passes the stop signal on: sleep dies of it (128 + 10)
    Case("init-stop-signal", ["inspect", "-f", "{{.State.ExitCode}}", "sig"],
         setup=[["run", "-d", "--init", "--stop-signal", "USR1", "--name", "sig", "busybox",
                 "sleep", "300"], ["stop", "sig"]],
         out="138\n", containers=True, issue="run flags"),
    Case("volumes-from-ro", ["run", "--rm", "--volumes-from", "holder:ro", "busybox", "sh",
                             "-c", "touch /data/x || echo refused"],
         setup=[["create", "--name", "holder", "-v", "{tmp}:/data", "busybox", "true"]],
         out="refused\n", err="Read-only file system", containers=True, issue="run flags"),
    Case("log-driver-none", ["logs", "quiet"],
         setup=[["run", "--log-driver", "none", "--name", "quiet", "busybox", "echo", "hi"]],
         code=1, out="", err="configured logging driver does not support reading",
         containers=True, issue="run flags"),

    # --- ps filters ---------------------------------------------------------------------------
    *[Case(f"ps-filter-{name}", ["ps", "-a", "--filter", flt, "--format", "{{.Names}}"],
           setup=[["create", "--name", "a1", "busybox", "true"],
                  ["create", "--name", "a2", "--network", "none", "-v", "{tmp}:/data",
                   "busybox", "true"],
                  ["create", "--name", "a3", "busybox", "true"]],
           out=out, issue="ps filters")
      for name, flt, out in (("since", "since=a1", "a3\na2\n"),
                             ("before", "before=a3", "a2\na1\n"),
                             ("volume", "volume=/data", "a2\n"),
                             ("network", "network=none", "a2\n"),
                             ("health-none", "health=none", "a3\na2\na1\n"))],
    Case("ps-filter-health-bad", ["ps", "-a", "--filter", "health=poorly"], code=1, out="",
         err="Unrecognised filter value for health: poorly", issue="ps filters"),
    Case("ps-filter-since-none", ["ps", "-a", "--filter", "since=nosuch"], code=1, out="",
         err="no such container nosuch", issue="ps filters"),

    # --- logs --since/--until -----------------------------------------------------------------
    Case("logs-since", ["logs", "--since", "2000-01-01", "said"],
         setup=[["run", "--name", "said", "busybox", "echo", "hi"]], out="hi\n",
         containers=True, issue="logs --since/--until"),
    Case("logs-until", ["logs", "--until", "2000-01-01", "said"],
         setup=[["run", "--name", "said", "busybox", "echo", "hi"]], out="",
         containers=True, issue="logs --since/--until"),

    # --- build's flags --------------------------------------------------------------------------
    Case("build-add-host-ulimit", ["run", "--rm", "hosted", "cat", "/hosts", "/nofile"],
         setup=[["build", "-q", "-t", "hosted", "--add-host", "db.example:10.1.2.3",
                 "--ulimit", "nofile=321:654", "--rm", "--force-rm", "{tmp}/ctx"]],
         files={"ctx/Dockerfile": "FROM busybox\n"
                                  "RUN cat /etc/hosts > /hosts; ulimit -n > /nofile\n"},
         out_re=r".*10\.1\.2\.3\s+db\.example\n321\n", containers=True, issue="build flags"),
]


def _create_bad(id: str, flags: list[str], err: str, code: int) -> Case:
    """``create FLAGS busybox true`` refused: 125 where docker's CLI refuses the command line,
    1 where its engine refuses the request (``run`` gives 125 for both)."""
    return Case(f"create-{id}", ["create", *flags, "busybox", "true"], code=code, out="",
                err=err, issue="exit codes")


# (each code is what docker 28's CLI gave against a dockerd)
FLAG_CASES += [
    _create_bad("restart-with-rm", ["--rm", "--restart", "always"],
                "conflicting options: cannot specify both --restart and --rm", 125),
    _create_bad("restart-no-such-policy", ["--restart", "sometimes"],
                "invalid restart policy 'sometimes'", 1),
    _create_bad("restart-count-not-a-number", ["--restart", "on-failure:x"],
                "invalid restart policy format: maximum retry count must be an integer", 125),
    _create_bad("restart-count-with-always", ["--restart", "always:3"],
                "maximum retry count cannot be used with restart policy 'always'", 1),
    _create_bad("restart-count-negative", ["--restart", "on-failure:-1"],
                "maximum retry count cannot be negative", 1),
    _create_bad("pull-bad-policy", ["--pull", "often"], "invalid pull option: 'often'", 125),
    _create_bad("ulimit-not-a-number", ["--ulimit", "nofile=x"],
                'invalid argument "nofile=x" for "--ulimit" flag', 125),
    _create_bad("attach-no-such-stream", ["-a", "stdnothing"],
                'invalid argument "stdnothing" for "-a, --attach" flag', 125),
    _create_bad("memory-too-small", ["-m", "1k"], "Minimum memory limit allowed is 6MB", 1),
    _create_bad("memory-swap-without-memory", ["--memory-swap", "128m"],
                "You should always set the Memory limit when using Memoryswap limit", 1),
    _create_bad("memory-swap-below-memory", ["-m", "10m", "--memory-swap", "5m"],
                "Minimum memoryswap limit should be larger than memory limit", 1),
    _create_bad("reservation-above-memory", ["-m", "10m", "--memory-reservation", "20m"],
                "Minimum memory limit can not be less than memory reservation limit", 1),
    _create_bad("cpus-and-cpu-period", ["--cpus", "1", "--cpu-period", "100000"],
                "Conflicting options: Nano CPUs and CPU Period cannot both be set", 1),
    _create_bad("cpu-period-too-small", ["--cpu-period", "10"],
                r"CPU cfs period can not be less than 1ms \(i.e. 1000\)", 1),
    _create_bad("cpu-quota-too-small", ["--cpu-quota", "10"],
                r"CPU cfs quota can not be less than 1ms \(i.e. 1000\)", 1),
    _create_bad("cpus-not-a-number", ["--cpus", "x"],
                'invalid argument "x" for "--cpus" flag', 125),
    _create_bad("no-healthcheck-and-health-cmd", ["--no-healthcheck", "--health-cmd", "true"],
                "--no-healthcheck conflicts with --health-\\* options", 125),
    _create_bad("health-interval-not-a-duration",
                ["--health-interval", "soon", "--health-cmd", "true"],
                'invalid argument "soon" for "--health-interval" flag', 125),
    _create_bad("health-retries-negative", ["--health-retries", "-1", "--health-cmd", "true"],
                "--health-retries cannot be negative", 125),
    _create_bad("shm-size-not-a-size", ["--shm-size", "x"], "invalid size: 'x'", 125),
    _create_bad("security-opt-format", ["--security-opt", "foo"],
                'Invalid --security-opt: "foo"', 125),
    _create_bad("security-opt-missing-profile",
                ["--security-opt", "seccomp={tmp}/none.json"],
                r"opening seccomp profile \(\{tmp\}/none.json\) failed", 125),
    _create_bad("security-opt-unknown", ["--security-opt", "bogus=1"],
                '^Error: invalid --security-opt 2: "bogus=1"\n$', 1),
    _create_bad("security-opt-nnp-not-a-bool", ["--security-opt", "no-new-privileges=maybe"],
                '^Error: invalid --security-opt 2: "no-new-privileges=maybe"\n$', 1),
    _create_bad("security-opt-systempaths", ["--security-opt", "systempaths=x"],
                '^Error: invalid --security-opt 2: "systempaths=x"\n$', 1),
    _create_bad("tmpfs-relative", ["--tmpfs", "relative"],
                "invalid mount path: 'relative' mount path must be absolute", 1),
    _create_bad("mount-no-such-type", ["--mount", "type=nosuch,target=/x"],
                'invalid mount config for type "nosuch": mount type unknown', 1),
    _create_bad("volumes-from-nosuch", ["--volumes-from", "nosuch"],
                "No such container: nosuch", 1),
    _create_bad("name-invalid", ["--name", "bad name"],
                r"Invalid container name \(bad name\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are "
                "allowed", 1),
    _create_bad("label-file-missing", ["--label-file", "{tmp}/none"],
                "open {tmp}/none: no such file or directory", 125),
    _create_bad("env-file-missing", ["--env-file", "{tmp}/none"],
                "open {tmp}/none: no such file or directory", 125),
    Case("create-name-taken", ["create", "--name", "dup", "busybox", "true"],
         setup=[["create", "--name", "dup", "busybox", "true"]], code=1, out="",
         err='Conflict. The container name "/dup" is already in use', issue="exit codes"),
    Case("create-pull-never-missing", ["create", "--pull", "never", "nosuch:1", "true"],
         code=1, out="", err="No such image: nosuch:1", issue="exit codes"),
    Case("create-cidfile-found", ["create", "--cidfile", "{tmp}/cid", "busybox", "true"],
         files={"cid": "x"}, code=1, out="",
         err="container ID file found, make sure the other container isn't running or "
             "delete {tmp}/cid", issue="exit codes"),
]

# expose=/publish= and PORTS: a created container has no ports yet (docker fills them in
# when it starts, and clears them when it stops)
FLAG_CASES += [
    Case("ps-ports-of-created", ["ps", "-a", "--format", "{{.Names}}:{{.Ports}}"],
         setup=[["create", "--name", "e1", "--expose", "80", "busybox", "true"]],
         out="e1:\n", issue="ps filters"),
    Case("ps-filter-expose-created", ["ps", "-a", "--filter", "expose=80", "--format",
                                      "{{.Names}}"],
         setup=[["create", "--name", "e1", "--expose", "80", "busybox", "true"]],
         out="", issue="ps filters"),
    Case("ps-filter-publish-colon", ["ps", "--filter", "publish=8080:80"], code=1, out="",
         err="filter for 'publish' should not contain ':': 8080:80", issue="ps filters"),
]

FLAG_CASES += [
    Case("cpus-zero-no-limit", ["run", "--rm", "--cpus", "0", "busybox", "true"], out="",
         containers=True, issue="run flags"),
    _create_bad("cpus-more-than-there-are", ["--cpus", "1000"],
                r"Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available",
                1),
]

# integer flags refused in pflag's words; docker's words for signals and --since
FLAG_CASES += [
    Case("int-flag-stop-timeout", ["stop", "-t", "x", "nosuch"], code=125, out="",
         err='^invalid argument "x" for "-t, --timeout" flag: strconv.ParseInt: parsing "x": '
             "invalid syntax\n", issue="exit codes"),
    Case("int-flag-ps-last", ["ps", "-n", "z"], code=125, out="",
         err='^invalid argument "z" for "-n, --last" flag: strconv.ParseInt: parsing "z": '
             "invalid syntax\n", issue="exit codes"),
    Case("int-flag-run-stop-timeout", ["run", "--stop-timeout", "x", "busybox", "true"],
         code=125, out="",
         err='^invalid argument "x" for "--stop-timeout" flag: strconv.ParseInt: parsing "x": '
             "invalid syntax\n", issue="exit codes"),
    Case("kill-bad-signal", ["kill", "-s", "NOPE", "box"], setup=[RUN_BOX], code=1, out="",
         err="^Error: Invalid signal: NOPE\n$", containers=True, issue="exit codes"),
    _create_bad("stop-signal-bad", ["--stop-signal", "NOPE"], "^Error: Invalid signal: NOPE\n$",
                1),
    Case("logs-since-bad", ["logs", "--since", "bogus", "said"],
         setup=[["create", "--name", "said", "busybox", "true"]], code=1, out="",
         err='invalid value for "since": failed to parse value as time or duration: "bogus"',
         issue="logs --since/--until"),
]

# --gpus: on record at create; no device driver here, so starting it fails as docker's does
# where none is installed (the container stays, created)
FLAG_CASES += [
    Case("gpus-on-record", ["inspect", "-f", "{{json .HostConfig.DeviceRequests}}", "g2"],
         setup=[["create", "--name", "g2", "--gpus", "2", "busybox", "true"]],
         out='[{"Driver":"","Count":2,"DeviceIDs":null,"Capabilities":[["gpu"]],'
             '"Options":{}}]\n', issue="run flags"),
    Case("gpus-start-fails", ["start", "g1"],
         setup=[["create", "--name", "g1", "--gpus", "all", "busybox", "true"]], code=1,
         out="", err='^Error: could not select device driver "" with capabilities: '
                     r"\[\[gpu\]\]\nError: failed to start containers: g1\n$",
         containers=True, issue="run flags"),
    _create_bad("gpus-bad-key", ["--gpus", "bogus=1"],
                "invalid argument \"bogus=1\" for \"--gpus\" flag: unexpected key 'bogus' in "
                "'bogus=1'", 125),
    _create_bad("gpus-bad-count", ["--gpus", "xyz"],
                'invalid argument "xyz" for "--gpus" flag: invalid count \\(xyz\\): value must '
                'be either "all" or an integer: invalid syntax', 125),
    Case("start-failure-summary", ["start", "s1"],
         setup=[["create", "--name", "s1", "busybox", "nosuchcmd"]], code=1, out="",
         err='exec: "nosuchcmd": executable file not found in \\$PATH.*\n'
             "Error: failed to start containers: s1\n$", containers=True, issue="exit codes"),
]

# what docker's engine checks when the container starts: --device, the log options
FLAG_CASES += [
    Case("device-missing-at-run", ["run", "--rm", "--device", "{tmp}/nodev", "busybox", "true"],
         code=127, out="", err='error gathering device information while adding custom '
                               'device "\\{tmp\\}/nodev": no such file or directory',
         containers=True, issue="exit codes"),
    Case("device-missing-created", ["create", "--device", "{tmp}/nodev", "busybox", "true"],
         out_re="<id>\n", issue="run flags"),
    Case("device-not-a-device", ["run", "--rm", "--device", "/etc/passwd", "busybox", "true"],
         code=125, out="", err='error gathering device information while adding custom '
                               'device "/etc/passwd": not a device node',
         containers=True, issue="run flags"),
    Case("log-max-file-alone", ["run", "--rm", "--log-opt", "max-file=3", "busybox", "true"],
         out="", containers=True, issue="run flags"),
    _bad("log-max-size-bad", ["--log-opt", "max-size=x"],
         "failed to initialize logging driver: invalid size: 'x'"),
    _bad("log-max-file-bad", ["--log-opt", "max-size=1k", "--log-opt", "max-file=x"],
         'failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax'),
    _bad("log-max-file-zero", ["--log-opt", "max-size=1k", "--log-opt", "max-file=0"],
         "failed to initialize logging driver: max-file cannot be less than 1"),
    _bad("ipc-mode-bad", ["--ipc", "nosuch"], "Invalid IPC mode: nosuch"),
    _bad("pid-mode-bad", ["--pid", "nosuch"], "--pid: invalid PID mode"),
    _bad("uts-mode-bad", ["--uts", "nosuch"], "--uts: invalid UTS mode"),
]

FLAG_CASES += [
    # a source starting with "." is a host directory, made absolute where the command runs
    Case("volume-relative-source", ["inspect", "-f", "{{json .HostConfig.Binds}}", "rel"],
         setup=[["create", "--name", "rel", "-v", "./rel-dir:/data", "-v", "../up:/up:ro",
                 "busybox", "true"]],
         out_re=r'\["/\S*/rel-dir:/data","/\S*up:/up:ro"\]\n', issue="run flags"),
]
