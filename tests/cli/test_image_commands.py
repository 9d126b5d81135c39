"""images, tag, history, inspect and system df, through the CLI, against docker's formats."""

from __future__ import annotations

import json
import re

from helpers.images import Dir, File

from .conftest import Run

ADD_STEP = "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / "
HEADER = re.compile(r"^REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$")


def test_images_table_matches_docker(lamina: Run, load_image) -> None:
    image = load_image(tags=["example.com/team/app:1.0"])
    result = lamina("images")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert HEADER.match(lines[0]), lines[0]
    cells = re.split(r"\s{3,}", lines[1])
    assert cells[0] == "example.com/team/app"
    assert cells[1] == "1.0"
    assert cells[2] == image.config_digest[7:19]
    assert cells[3].endswith("ago") or cells[3] == "N/A"
    assert re.fullmatch(r"\d+(\.\d+)?(B|kB|MB)", cells[4])
    # docker aligns columns with tabwriter: the ID column starts at the same offset everywhere.
    assert lines[0].index("IMAGE ID") == lines[1].index(cells[2])


def test_images_default_tag_and_docker_hub_names(lamina: Run, load_image) -> None:
    load_image(tags=["busybox:latest", "docker.io/library/alpine:3.20"])
    result = lamina("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert sorted(result.out.split()) == ["alpine:3.20", "busybox:latest"]


def test_images_quiet_lists_each_row(lamina: Run, load_image) -> None:
    a = load_image(tags=["a:1", "a:2"])
    b = load_image([{"b": b"b"}], tags=["b:1"])
    out = lamina("images", "-q").out.split()
    # docker 28 prints one line per row: an image with two tags twice.
    assert sorted(out) == sorted([a.config_digest[7:19]] * 2 + [b.config_digest[7:19]])
    full = lamina("images", "-q", "--no-trunc").out.split()
    assert a.config_digest in full


def test_images_json_and_template(lamina: Run, load_image) -> None:
    image = load_image(tags=["app:v1"])
    rows = [json.loads(line) for line in lamina("images", "--format", "json").out.splitlines()]
    assert len(rows) == 1
    assert rows[0]["Repository"] == "app" and rows[0]["Tag"] == "v1"
    assert rows[0]["ID"] == image.config_digest[7:19]
    assert set(rows[0]) >= {"Containers", "CreatedAt", "CreatedSince", "Digest", "ID",
                            "Repository", "SharedSize", "Size", "Tag", "UniqueSize",
                            "VirtualSize"}
    table = lamina("images", "--format", "table {{.Repository}}\t{{.ID}}").out.splitlines()
    assert re.match(r"REPOSITORY\s+IMAGE ID$", table[0])


def test_images_filters(lamina: Run, load_image) -> None:
    load_image([{"x": b"1"}], tags=["web/front:1"], config={"config": {"Labels": {"tier": "web"}}})
    load_image([{"x": b"2"}], tags=["db/main:1"], config={"config": {"Labels": {"tier": "db"}}})
    untagged = load_image([{"x": b"3"}])
    names = lambda *a: sorted(lamina("images", "--format", "{{.Repository}}", *a).out.split())  # noqa: E731
    assert names("--filter", "label=tier=web") == ["web/front"]
    assert names("--filter", "label=tier") == ["db/main", "web/front"]
    assert names("--filter", "reference=web/*") == ["web/front"]
    assert names("--filter", "reference=*") == []  # `*` does not cross a `/`, as in docker
    assert names("db/main") == ["db/main"]
    dangling = lamina("images", "-q", "--no-trunc", "--filter", "dangling=true").out.split()
    assert dangling == [untagged.config_digest]
    assert untagged.config_digest not in lamina(
        "images", "-q", "--no-trunc", "--filter", "dangling=false").out
    bad = lamina("images", "--filter", "colour=red")
    assert bad.code == 1 and bad.err.strip() == "Error: invalid filter 'colour'"


def test_untagged_image_shows_none(lamina: Run, load_image) -> None:
    load_image()
    lines = lamina("images").out.splitlines()
    assert lines[1].startswith("<none>       <none>")


def test_tag(lamina: Run, load_image) -> None:
    image = load_image(tags=["app:1"])
    assert lamina("tag", "app:1", "registry.local:5000/team/app:prod").code == 0
    assert lamina("tag", image.config_digest[7:13], "app:latest").code == 0
    refs = sorted(lamina("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out.splitlines())
    short = image.config_digest[7:19]
    assert refs == [f"app:1 {short}", f"app:latest {short}",
                    f"registry.local:5000/team/app:prod {short}"]


def test_tag_bad_input(lamina: Run, load_image) -> None:
    load_image(tags=["app:1"])
    before = lamina("images").out
    bad = lamina("tag", "app:1", "Bad/Name")
    assert bad.code == 1
    assert bad.err.strip().startswith("Error: invalid reference format")
    assert len(bad.err.strip().splitlines()) == 1
    missing = lamina("tag", "nothere", "app:2")
    assert missing.code == 1 and missing.err.strip() == "Error: No such image: nothere:latest"
    assert lamina("images").out == before


def test_history_matches_docker(lamina: Run, load_image) -> None:
    history = [
        {"created": "2024-01-01T00:00:00Z", "created_by": ADD_STEP},
        {"created": "2024-01-01T00:00:01Z", "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
         "empty_layer": True},
        {"created": "2024-01-01T00:00:02Z", "created_by": "/bin/sh -c echo hello > /hello",
         "comment": "a comment"},
    ]
    image = load_image([{"bin": Dir(), "bin/x": File(b"x" * 5000)}, {"hello": b"hello\n"}],
                       tags=["hist:1"], config={"history": history})
    result = lamina("history", "hist:1")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert re.match(r"IMAGE\s{3,}CREATED\s{3,}CREATED BY\s{3,}SIZE\s{3,}COMMENT$", lines[0])
    assert len(lines) == 4
    assert lines[1].startswith(image.config_digest[7:19])
    assert lines[2].startswith("<missing>") and lines[3].startswith("<missing>")
    assert "a comment" in lines[1]
    # The metadata-only step costs nothing; CREATED BY is cut at 45 characters with an ellipsis.
    assert re.search(r"\s0B\s", lines[2])
    assert ADD_STEP not in lines[3] and ADD_STEP[:44] + "…" in lines[3]
    raw = lamina("history", "--no-trunc", "--human=false", "--format",
                 "{{.CreatedBy}}|{{.Size}}", "hist:1")
    assert raw.code == 0, raw.err
    rows = raw.out.splitlines()
    assert rows[1] == '/bin/sh -c #(nop)  CMD ["sh"]|0'
    assert rows[0].startswith("/bin/sh -c echo hello > /hello|")
    assert int(rows[0].split("|")[1]) > 0
    quiet = lamina("history", "-q", "hist:1").out.split()
    assert quiet == [image.config_digest[7:19], "<missing>", "<missing>"]


def test_inspect_image(lamina: Run, load_image) -> None:
    image = load_image(tags=["insp:1"], config={"config": {"Cmd": ["sh"], "Env": ["A=<b>"]}})
    result = lamina("inspect", "insp:1")
    assert result.code == 0, result.err
    assert result.out.startswith("[\n    {\n        \"Id\": ")
    assert "\\u003cb\\u003e" in result.out  # Go's encoder escapes < and >
    (obj,) = json.loads(result.out)
    assert obj["Id"] == image.config_digest
    assert obj["RepoTags"] == ["insp:1"]
    assert obj["RootFS"] == {"Type": "layers", "Layers": image.diff_ids}
    assert obj["Architecture"] == "amd64" and obj["Os"] == "linux"
    assert obj["Config"]["Cmd"] == ["sh"]
    assert isinstance(obj["Size"], int) and obj["Size"] > 0
    for key in ("Parent", "Comment", "Created", "Author", "Metadata", "RepoDigests"):
        assert key in obj
    assert lamina("inspect", "-f", "{{.Id}}", "insp:1").out == image.config_digest + "\n"
    assert lamina("image", "inspect", "--format", "{{json .Config.Cmd}}", "insp:1").out == '["sh"]\n'
    assert lamina("inspect", "--format", "{{.Config.Cmd}}", "insp:1").out == "[sh]\n"
    assert lamina("inspect", "--type", "image", "-f", "{{.Os}}", "insp:1").out == "linux\n"


def test_inspect_missing(lamina: Run, load_image) -> None:
    load_image(tags=["there:1"])
    result = lamina("inspect", "-f", "{{.Id}}", "there:1", "nothere")
    assert result.code == 1
    assert result.out.startswith("sha256:")
    assert result.err.strip() == "Error: No such object: nothere"
    typed = lamina("inspect", "--type", "image", "nothere")
    assert typed.code == 1 and typed.err.strip() == "Error: No such image: nothere"
    assert typed.out == "[]\n"  # docker prints the empty list as well
    # A template that does not parse: docker's 64, before any lookup.
    bad_template = lamina("inspect", "-f", "{{.Id", "nothere")
    assert (bad_template.code, bad_template.out) == (64, "")
    assert bad_template.err == "template parsing error: template: :1: unclosed action\n"


def test_short_id_prefixes(lamina: Run, load_image) -> None:
    image = load_image(tags=["p:1"])
    hex_ = image.config_digest[7:]
    for prefix in (hex_[:4], hex_[:12], hex_, "sha256:" + hex_):
        assert lamina("inspect", "-f", "{{.Id}}", prefix).out.strip() == image.config_digest


def test_system_df(lamina: Run, load_image) -> None:
    load_image(tags=["df:1"])
    lines = lamina("system", "df").out.splitlines()
    assert re.match(r"TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$", lines[0])
    assert re.match(r"Images\s+1\s+0\s+\S+\s+\S+ \(100%\)$", lines[1])
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]


def test_usage_errors_exit_125(lamina: Run) -> None:
    result = lamina("images", "--bogus")
    assert result.code == 125
    assert result.err.splitlines()[0] == "unknown flag: --bogus"
    # Too few arguments is docker's 1, not 125.
    missing = lamina("tag", "only-one")
    assert missing.code == 1
    assert missing.err.splitlines()[0] == "lamina: 'lamina tag' requires 2 arguments"


def test_images_before_and_since(lamina: Run, load_image) -> None:
    old = load_image([{"o": b"o"}], tags=["t:old"], config={"created": "2020-01-01T00:00:00Z"})
    mid = load_image([{"m": b"m"}], tags=["t:mid"], config={"created": "2021-01-01T00:00:00Z"})
    new = load_image([{"n": b"n"}], tags=["t:new"], config={"created": "2022-01-01T00:00:00Z"})
    ids = lambda *a: lamina("images", "-q", "--no-trunc", *a).out.split()  # noqa: E731
    assert ids() == [new.config_digest, mid.config_digest, old.config_digest]  # newest first
    assert ids("--filter", "before=t:mid") == [old.config_digest]
    assert ids("--filter", "since=t:mid") == [new.config_digest]
    missing = lamina("images", "--filter", "since=t:none")
    assert missing.code == 1 and missing.err.strip() == "Error: No such image: t:none"


def test_history_human_flag_as_docker_reads_it(lamina: Run, load_image) -> None:
    load_image([{"f": b"x" * 3000}], tags=["h:1"])
    human = lamina("history", "-H", "--format", "{{.Size}}", "h:1")
    assert human.code == 0, human.err
    assert human.out.strip().endswith("kB")
    for spelling in ("-H=false", "--human=false", "--human=0"):
        raw = lamina("history", spelling, "--format", "{{.Size}}", "h:1")
        assert raw.code == 0, raw.err
        assert raw.out.strip().isdigit(), spelling
    bad = lamina("history", "--human=maybe", "h:1")
    assert bad.code == 125
