"""``image ls --tree``: docker 28's layout, names, platform lines, the in-use mark."""

from __future__ import annotations

import json

from .conftest import Run


def test_tree_layout(lamina: Run, load_image) -> None:
    old = load_image([{"o": b"o" * 3000}], tags=["old:1", "old:2"],
                     config={"created": "2020-01-01T00:00:00Z", "architecture": "arm64",
                             "variant": "v8"})
    new = load_image([{"n": b"n"}], tags=["new:1"], config={"created": "2024-01-01T00:00:00Z"})
    load_image([{"u": b"u"}])  # untagged: shown only with -a
    assert lamina("create", "--name", "user", "new:1", "true").code == 0
    out = lamina("image", "ls", "--tree").out
    old_manifest = json.loads(lamina("image", "inspect", "old:1").out)[0]["Descriptor"]["digest"]
    new_manifest = json.loads(lamina("image", "inspect", "new:1").out)[0]["Descriptor"]["digest"]
    lines = out.splitlines()
    # IMAGE as wide as its widest value ("└─ linux/arm64/v8", 17), then three spaces.
    assert lines[0] == "IMAGE               ID             DISK USAGE   CONTENT SIZE   EXTRA"
    assert lines[1].startswith(f"new:1               {new.config_digest[7:19]}   ")
    assert lines[1].endswith("    U")
    assert lines[2].startswith(f"└─ linux/amd64      {new_manifest[7:19]}   ")
    assert lines[3] == ""
    assert lines[4] == "old:1"  # every name, the details after the last
    assert lines[5].startswith(f"old:2               {old.config_digest[7:19]}   ")
    assert not lines[5].endswith("U")
    assert lines[6].startswith(f"└─ linux/arm64/v8   {old_manifest[7:19]}   ")
    assert len(lines) == 7
    # The columns: disk usage right-aligned in 10, content size in 12.
    disk, content = lines[5][35:45], lines[5][48:60]
    assert disk.strip().endswith("kB") and disk == disk.strip().rjust(10)
    assert content == content.strip().rjust(12)
    every = lamina("images", "--tree", "-a").out
    assert "<untagged>" in every


def test_tree_refuses_what_it_cannot_show(lamina: Run, load_image) -> None:
    load_image(tags=["a:1"])
    result = lamina("images", "--tree", "--format", "{{.ID}}")
    assert result.code == 1
    assert result.err == "Error: --format is not yet supported with --tree\n"
