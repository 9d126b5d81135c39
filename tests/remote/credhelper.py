"""A real ``docker-credential-test`` program for tests: docker's credential-helper protocol
(``get``/``store``/``erase`` as argument, the server URL or JSON on stdin, JSON on stdout), keeping
the secrets in a JSON file named by ``$TEST_HELPER_STORE`` and logging each call beside it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

HELPER = textwrap.dedent(
    """\
    #!{python}
    # docker's credential-helper protocol, keeping secrets in a JSON file.
    import json, os, sys
    path = os.environ["TEST_HELPER_STORE"]
    data = json.load(open(path)) if os.path.exists(path) else {{}}
    action = sys.argv[1]
    raw = sys.stdin.read()
    with open(path + ".log", "a") as log:
        log.write(action + " " + raw.strip() + "\\n")
    if action == "store":
        entry = json.loads(raw)
        data[entry["ServerURL"]] = [entry["Username"], entry["Secret"]]
    elif action == "get":
        if raw.strip() not in data:
            print("credentials not found in native keychain")
            sys.exit(1)
        user, secret = data[raw.strip()]
        print(json.dumps({{"ServerURL": raw.strip(), "Username": user, "Secret": secret}}))
    elif action == "erase":
        if data.pop(raw.strip(), None) is None:
            print("credentials not found in native keychain")
            sys.exit(1)
    else:
        print("unknown action")
        sys.exit(1)
    json.dump(data, open(path, "w"))
    """
)


def install_helper(bin_dir: Path, name: str = "test") -> Path:
    """Write ``docker-credential-<name>`` into ``bin_dir`` (to be put on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = bin_dir / f"docker-credential-{name}"
    program.write_text(HELPER.format(python=sys.executable))
    program.chmod(0o755)
    return program
