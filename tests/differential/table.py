"""The differential table: command lines with docker's stdout, stderr pattern and exit code.

Each expectation was taken from docker 28's CLI against a dockerd (Debian's docker.io, on a
data root of its own) and from docker's documentation. ``test_lamina.py`` runs every row with
lamina; ``test_docker.py`` runs them with docker, where a dockerd can start, and reports each
row where docker no longer gives what the table says.

Every row starts from a world holding ``busybox:latest`` alone (the tests' busybox rootfs,
imported from stdin, so its history comment is ``Imported from -``). Outputs are compared
after ``harness.normalise``: IDs, digests, times and ages are placeholders, ``lamina`` reads
``docker``, and table columns are compared by their order, not their widths.

To add a row: append a ``Case`` to ``CASES`` (or extend it from a module of your own); give
``out`` (exact, after normalising) or ``out_re`` (a regex over the whole normalised stdout),
``err`` (a regex searched in the normalised stderr; "" for none; None to ignore), and
``code``. ``{tmp}`` in arguments and files is the row's own directory, ``{start}`` the time the
row began (before its setup), ``{now}`` the time of the call (``--until {now}`` ends
``events`` at once). A row that needs to run containers says
``containers=True``; one whose docker answer is not this machine's says why in ``peer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    code: int = 0
    out: str | None = None
    out_re: str | None = None
    err: str | None = ""
    setup: list[list[str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    stdin: str = ""
    containers: bool = False  # runs containers (lamina needs root and runc for it)
    peer: str = ""  # why docker here cannot be compared on this row ("" when it can)
    issue: str = ""  # the item of the issue the row covers


def _events(*filters: str, fmt: str = "{{.Action}} {{.Actor.Attributes.name}}") -> list[str]:
    """``events`` over everything recorded so far, then stop."""
    args = ["events", "--since", "{start}", "--until", "{now}", "--format", fmt]
    for f in filters:
        args += ["--filter", f]
    return args


VOLUME_PRUNE_ALL = ("docker 23's volume prune removes anonymous volumes only, named ones with "
                    "--all (API 1.42); Debian's dockerd 20.10 speaks 1.41 and removes both")
NETWORK_CREATE = "docker's network create makes a bridge on the host: not done here"
CREATE_EXIT3 = ["create", "--name", "three", "--network", "none", "busybox", "sh", "-c",
                "exit 3"]
RUN_BOX = ["run", "-d", "--name", "box", "busybox", "sleep", "300"]

CASES: list[Case] = [
    # --- prune filters reach the engine (the data-loss bug) -----------------------------------
    Case("container-prune-until-keeps-new", ["container", "prune", "-f", "--filter", "until=1h"],
         setup=[["create", "--name", "fresh", "busybox", "true"]],
         out="Total reclaimed space: 0B\n", issue="prune --filter"),
    Case("container-prune-until-then-ps", ["ps", "-a", "--format", "{{.Names}}"],
         setup=[["create", "--name", "fresh", "busybox", "true"],
                ["container", "prune", "-f", "--filter", "until=1h"]],
         out="fresh\n", issue="prune --filter"),
    Case("container-prune-label", ["ps", "-a", "--format", "{{.Names}}"],
         setup=[["create", "--name", "keep", "-l", "keep=yes", "busybox", "true"],
                ["create", "--name", "drop", "-l", "keep=no", "busybox", "true"],
                ["container", "prune", "-f", "--filter", "label=keep=no"]],
         out="keep\n", issue="prune --filter"),
    Case("container-prune-label-not", ["ps", "-a", "--format", "{{.Names}}"],
         setup=[["create", "--name", "keep", "-l", "keep=yes", "busybox", "true"],
                ["create", "--name", "drop", "-l", "keep=no", "busybox", "true"],
                ["container", "prune", "-f", "--filter", "label!=keep=yes"]],
         out="keep\n", issue="prune --filter"),
    Case("container-prune-output", ["container", "prune", "-f", "--filter", "label=keep=no"],
         setup=[["create", "--name", "drop", "-l", "keep=no", "busybox", "true"]],
         out="Deleted Containers:\n<id>\n\nTotal reclaimed space: 0B\n", issue="prune --filter"),
    Case("container-prune-bad-filter", ["container", "prune", "-f", "--filter", "colour=red"],
         code=1, out="", err="(?i)invalid filter 'colour'", issue="prune --filter"),
    Case("image-prune-until-keeps-new", ["image", "prune", "-f", "--filter", "until=1h"],
         setup=[["create", "--name", "src", "busybox", "true"], ["commit", "src"],
                ["rm", "src"]],
         out="Total reclaimed space: 0B\n", issue="prune --filter"),
    Case("image-prune-label-no-match", ["image", "prune", "-f", "--filter", "label=nope"],
         setup=[["create", "--name", "src", "busybox", "true"], ["commit", "src"],
                ["rm", "src"]],
         out="Total reclaimed space: 0B\n", issue="prune --filter"),

    Case("volume-prune-label", ["volume", "prune", "-f", "-a", "--filter", "label=keep=no"],
         setup=[["volume", "create", "--label", "keep=yes", "vk"],
                ["volume", "create", "--label", "keep=no", "vd"]],
         out="Deleted Volumes:\nvd\n\nTotal reclaimed space: 0B\n", issue="prune --filter",
         peer=VOLUME_PRUNE_ALL),
    Case("volume-prune-label-not", ["volume", "ls", "-q"],
         setup=[["volume", "create", "--label", "keep=yes", "vk"],
                ["volume", "create", "--label", "keep=no", "vd"],
                ["volume", "prune", "-f", "-a", "--filter", "label!=keep=no"]],
         out="vd\n", issue="prune --filter", peer=VOLUME_PRUNE_ALL),
    Case("volume-prune-keeps-named", ["volume", "prune", "-f"],
         setup=[["volume", "create", "vk"]], out="Total reclaimed space: 0B\n",
         issue="prune --filter", peer=VOLUME_PRUNE_ALL),
    Case("volume-prune-until", ["volume", "prune", "-f", "--filter", "until=1h"], code=1,
         out="", err="(?i)invalid filter 'until'", issue="prune --filter"),
    *[Case(f"network-prune-{name}", ["network", "ls", "--filter", "type=custom", "--format",
                                     "{{.Name}}"],
           setup=[["network", "create", "--label", "keep=yes", "nk"],
                  ["network", "create", "--label", "keep=no", "nd"],
                  ["network", "prune", "-f", "--filter", flt]],
           out=out, issue="prune --filter", peer=NETWORK_CREATE)
      for name, flt, out in (("label", "label=keep=no", "nk\n"),
                             ("label-not", "label!=keep=no", "nd\n"),
                             ("until-keeps-new", "until=1h", "nd\nnk\n"))],

    # --- flags that were parsed and dropped ------------------------------------------------------
    Case("rm-link-keeps-container", ["rm", "-l", "keep"], code=1, out="",
         setup=[["create", "--name", "keep", "busybox", "true"]],
         err="^Error: Conflict, cannot remove the default link name of the container\n$",
         issue="flags dropped"),
    Case("logs-details", ["logs", "--details", "said"],
         setup=[["run", "--name", "said", "busybox", "echo", "hi"]], out=" hi\n",
         containers=True, issue="flags dropped"),
    Case("exec-detach", ["exec", "box", "ps", "-o", "args"],
         setup=[RUN_BOX, ["exec", "-d", "box", "sleep", "1000"]],
         out_re=r".*sleep 1000\n.*", containers=True, issue="flags dropped"),
    Case("commit-pauses", _events("container=box", "event=pause", "event=commit",
                                  "event=unpause", fmt="{{.Action}}"),
         setup=[RUN_BOX, ["commit", "box", "snap:1"]], out="pause\ncommit\nunpause\n",
         containers=True, issue="flags dropped"),

    # --- events --------------------------------------------------------------------------------
    Case("events-tag", _events("event=tag"), setup=[["tag", "busybox", "ev:1"]],
         out="tag ev:1\n", issue="events"),
    Case("events-image-verbs", _events("type=image", fmt="{{.Action}}"),
         setup=[["tag", "busybox", "ev:1"], ["rmi", "ev:1"]], out="tag\nuntag\n",
         issue="events"),
    Case("events-container", _events("container=three", fmt="{{.Type}} {{.Action}} {{.From}}"),
         setup=[CREATE_EXIT3, ["rename", "three", "four"], ["rm", "four"]],
         out="container create busybox\n", issue="events"),
    Case("events-container-all", _events("type=container", fmt="{{.Action}}"),
         setup=[CREATE_EXIT3, ["rename", "three", "four"], ["rm", "four"]],
         out="create\nrename\ndestroy\n", issue="events"),
    Case("events-run-die", _events("event=die", fmt="{{.Actor.Attributes.exitCode}}"),
         setup=[["run", "-d", "--name", "ran", "busybox", "sh", "-c", "exit 5"],
                ["wait", "ran"]], out="5\n",
         containers=True, issue="events"),
    Case("events-stop", _events("container=trap", fmt="{{.Action}} {{.Actor.Attributes.signal}}"
                                "{{.Actor.Attributes.exitCode}}"),
         setup=[["run", "-d", "--name", "trap", "busybox", "sh", "-c",
                 "trap 'exit 0' TERM; while true; do sleep 0.1; done"], ["stop", "trap"]],
         out="create <no value><no value>\nstart <no value><no value>\n"
             "kill 15<no value>\ndie <no value>0\nstop <no value><no value>\n",
         containers=True, issue="events"),
    Case("events-rm-force", _events("container=box", fmt="{{.Action}} "
                                    "{{.Actor.Attributes.signal}}"),
         setup=[RUN_BOX, ["rm", "-f", "box"]],
         out="create <no value>\nstart <no value>\nkill 9\ndie <no value>\n"
             "destroy <no value>\n", containers=True, issue="events"),
    # (sleep as PID 1 has no handler for TERM: the kernel drops it, and stop kills at -t)
    Case("events-stop-past-timeout", _events("container=box", fmt="{{.Action}} "
                                             "{{.Actor.Attributes.signal}}"),
         setup=[RUN_BOX, ["stop", "-t", "1", "box"]],
         out="create <no value>\nstart <no value>\nkill 15\nkill 9\ndie <no value>\n"
             "stop <no value>\n", containers=True, issue="events"),
    Case("events-exec", _events("container=box", "event=exec_create", "event=exec_start",
                                "event=exec_die", fmt="{{.Action}}|"),
         setup=[RUN_BOX, ["exec", "box", "true"]],
         out="exec_create: true |\nexec_start: true |\nexec_die|\n", containers=True,
         issue="events"),
    Case("events-json", _events("event=tag", fmt="json"),
         setup=[["tag", "busybox", "ev:1"]],
         out='{"status":"tag","id":"sha256:<id>","Type":"image","Action":"tag","Actor":'
             '{"ID":"sha256:<id>","Attributes":{"name":"ev:1"}},"scope":"local",'
             '"time":<n>,"timeNano":<n>}\n', issue="events"),
    Case("events-default-line", ["events", "--since", "{start}", "--until", "{now}",
                                 "--filter", "event=tag"],
         setup=[["tag", "busybox", "ev:1"]],
         out="<time> image tag sha256:<id> (name=ev:1)\n", issue="events"),
    Case("events-bad-format", ["events", "--until", "{now}", "--format", "{{"], code=64, out="",
         err="^Error parsing format: template: :1: unclosed action\n$", issue="events"),
    Case("events-bad-since", ["events", "--since", "yesterday"], code=1, out="",
         err='failed to parse value as time or duration: "yesterday"', issue="events"),

    # --- exit codes and output that scripts parse --------------------------------------------
    Case("run-it-no-tty", ["run", "-it", "busybox", "true"], code=1, out="",
         err="^the input device is not a TTY\n$", issue="exit codes"),
    Case("exec-it-no-tty", ["exec", "-it", "box", "true"], code=1, out="",
         err="^the input device is not a TTY\n$", setup=[RUN_BOX], containers=True,
         issue="exit codes"),
    # (docker writes this error to the exec's own stream, so stdout, with "\r\n"; lamina to
    # stderr: only the status is compared.)
    Case("exec-nosuch", ["exec", "box", "nosuch"], code=126, out=None, err=None,
         setup=[RUN_BOX], containers=True, issue="exit codes"),
    Case("exec-detached-nosuch", ["exec", "-d", "box", "nosuch"], code=1, out="",
         err="executable file not found", setup=[RUN_BOX], containers=True,
         issue="exit codes"),
    Case("pull-no-argument", ["pull"], code=1, out="",
         err="^docker: 'docker pull' requires 1 argument\n\nUsage:  docker pull ",
         issue="exit codes"),
    Case("tag-one-argument", ["tag", "x"], code=1, out="",
         err="^docker: 'docker tag' requires 2 arguments\n", issue="exit codes"),
    Case("rmi-no-argument", ["rmi"], code=1, out="",
         err="^docker: 'docker rmi' requires at least 1 argument\n", issue="exit codes"),
    Case("load-missing-file", ["load", "-i", "missing"], code=1, out="",
         err="open missing: no such file or directory\n$", issue="exit codes"),
    Case("unknown-flag", ["images", "--bogus"], code=125, out="",
         err="^unknown flag: --bogus\n", issue="exit codes"),
    Case("inspect-template-syntax", ["inspect", "--format", "{{", "busybox"], code=64, out="",
         err="^template parsing error: template: :1: unclosed action\n$", issue="exit codes"),
    Case("build-run-exit-7", ["build", "-q", "{tmp}/ctx"], code=1, out="",
         files={"ctx/Dockerfile": "FROM busybox\nRUN exit 7\n"},
         err='process "/bin/sh -c exit 7" did not complete successfully: exit code: 7',
         containers=True, issue="exit codes",
         peer="lamina's build imitates BuildKit (exit 1); this docker has no buildx, and its "
              "legacy builder exits 7 ('The command ... returned a non-zero code: 7')"),
    Case("pull-uppercase", ["pull", "UPPER/case"], code=1, out="Using default tag: latest\n",
         err="invalid reference format: repository name( \\(.*\\))? must be lowercase",
         issue="reference grammar"),
    Case("load-quiet", ["load", "-q", "-i", "{tmp}/b.tar"],
         setup=[["save", "-o", "{tmp}/b.tar", "busybox"], ["rmi", "busybox"]],
         out="Loaded image: busybox:latest\n", issue="output"),
    Case("images-quiet-duplicates", ["images", "-q"], setup=[["tag", "busybox", "b2:x"]],
         out="<short>\n<short>\n", issue="output"),
    Case("inspect-nosuch", ["inspect", "nosuch"], code=1, out="[]\n",
         err="^Error: No such object: nosuch\n$", issue="output"),
    Case("inspect-nosuch-format", ["inspect", "-f", "{{.Id}}", "nosuch"], code=1, out="\n",
         err="^Error: No such object: nosuch\n$", issue="output"),
    Case("ps-quoting", ["ps", "-a", "--format", "{{.Command}}"], setup=[CREATE_EXIT3],
         out="\"sh -c 'exit 3'\"\n", issue="output"),
    Case("json-sorted-unescaped", ["inspect", "-f", "{{json .Config.Labels}}", "lab"],
         setup=[["create", "--name", "lab", "-l", "b=<&>", "-l", "a=1", "busybox", "true"]],
         out='{"a":"1","b":"<&>"}\n', issue="output"),
    Case("images-format-json", ["images", "--format", "json"],
         out='{"Containers":"N/A","CreatedAt":"<time>","CreatedSince":"<ago>",'
             '"Digest":"\\u003cnone\\u003e","ID":"<short>","Repository":"busybox",'
             '"SharedSize":"N/A","Size":"1.98MB","Tag":"latest","UniqueSize":"N/A",'
             '"VirtualSize":"1.983MB"}\n', issue="output"),
    Case("images-json-template", ["images", "--format", "{{json .}}"],
         out='{"Containers":"N/A","CreatedAt":"<time>","CreatedSince":"<ago>",'
             '"Digest":"\\u003cnone\\u003e","ID":"<short>","Repository":"busybox",'
             '"SharedSize":"N/A","Size":"1.98MB","Tag":"latest","UniqueSize":"N/A",'
             '"VirtualSize":"1.983MB"}\n', issue="output"),
    Case("ps-format-json", ["ps", "-a", "--format", "json"], setup=[CREATE_EXIT3],
         out='{"Command":"\\"sh -c \'exit 3\'\\"","CreatedAt":"<time>","ID":"<short>",'
             '"Image":"busybox","Labels":"","LocalVolumes":"0","Mounts":"","Names":"three",'
             '"Networks":"none","Platform":null,"Ports":"","RunningFor":"<ago>","Size":"0B",'
             '"State":"created","Status":"Created"}\n', issue="output"),
    Case("history-not-human", ["history", "-H=false", "busybox"],
         out="IMAGE  CREATED AT  CREATED BY  SIZE  COMMENT\n"
             "<short>  <time>  1982587  Imported from -\n", issue="output"),

    # --- system prune, system df -v, builder prune, image ls --tree, manifest ----------------
    Case("system-prune", ["system", "prune", "-f"],
         setup=[["create", "--name", "idle", "busybox", "true"], ["commit", "idle"]],
         out_re=r"Deleted Containers:\n<id>\n\nDeleted Images:\ndeleted: sha256:<id>\n\n"
                r"Total reclaimed space: \S+\n", issue="system prune"),
    Case("system-prune-prompt", ["system", "prune"], stdin="n\n",
         setup=[["create", "--name", "idle", "busybox", "true"]],
         out="WARNING! This will remove:\n  - all stopped containers\n"
             "  - all networks not used by at least one container\n  - all dangling images\n"
             "  - unused build cache\n\nAre you sure you want to continue? [y/N] ",
         issue="system prune"),
    # (an image of its own, used by no container: the rows of one image's several repos
    # come in no set order from docker's CLI, so one repo is asked for)
    Case("system-prune-keeps-tagged", ["images", "--format", "{{.Repository}}:{{.Tag}}",
                                       "kept"],
         setup=[["create", "--name", "src", "busybox", "true"], ["commit", "src", "kept:1"],
                ["rm", "src"], ["system", "prune", "-f"]],
         out="kept:1\n", issue="system prune"),
    Case("system-prune-volumes-until", ["system", "prune", "-f", "--volumes", "--filter",
                                        "until=1h"], code=1, out="",
         err='The "until" filter is not supported with "--volumes"', issue="system prune"),
    Case("system-df-verbose", ["system", "df", "-v"],
         out="Images space usage:\n\n"
             "REPOSITORY  TAG  IMAGE ID  CREATED  SIZE  SHARED SIZE  UNIQUE SIZE  CONTAINERS\n"
             "busybox  latest  <short>  <ago>  1.98MB  0B  1.983MB  0\n\n"
             "Containers space usage:\n\n"
             "CONTAINER ID  IMAGE  COMMAND  LOCAL VOLUMES  SIZE  CREATED  STATUS  NAMES\n\n"
             "Local Volumes space usage:\n\nVOLUME NAME  LINKS  SIZE\n\n"
             "Build cache usage: 0B\n\n"
             "CACHE ID  CACHE TYPE  SIZE  CREATED  LAST USED  USAGE  SHARED\n",
         issue="system df -v"),
    Case("system-df-build-cache", ["system", "df"],
         out_re=r".*\nBuild Cache  0  0  0B  0B\n", issue="system df -v"),
    Case("builder-prune", ["builder", "prune", "-f"], out="Total reclaimed space: 0B\n",
         err=None, issue="builder prune"),  # (docker's legacy builder warns on stderr)
    Case("image-ls-tree", ["image", "ls", "--tree"],
         out_re=r"IMAGE  ID  DISK USAGE  CONTENT SIZE  EXTRA\n"
                r"busybox:latest  <short>  1\.98MB  \S+\n└─ linux/amd64  <short>  1\.98MB  \S+\n",
         issue="image ls --tree",
         peer="--tree needs API 1.47; Debian's dockerd 20.10 speaks 1.41 (layout from docker "
              "28's documentation)"),
    Case("manifest-rm-missing", ["manifest", "rm", "nosuch"], code=1, out="",
         err="No such manifest: docker.io/library/nosuch:latest\n$", issue="manifest"),
    Case("manifest-push-missing", ["manifest", "push", "nosuch"], code=1, out="",
         err="No such manifest: docker.io/library/nosuch:latest\n$", issue="manifest"),
    Case("manifest-annotate-missing", ["manifest", "annotate", "nosuch", "x"], code=1, out="",
         err="manifest for image x does not exist in nosuch\n$", issue="manifest"),
]

# Rows kept in modules of their own (each imports Case from here).
from .table_security import SECURITY_CASES  # noqa: E402

CASES += SECURITY_CASES

# The rows of the run/create flags, --flag=false, ps filters, logs --since/--until and
# build's flags.
from .table_flags import FLAG_CASES  # noqa: E402

CASES += FLAG_CASES
