"""The registry client. httpx is imported lazily by its modules; this keeps that import cheap."""

import sys

# httpx's own command-line tool (httpx._main) is imported by ``import httpx`` and imports rich
# and pygments when they are installed (rich is, for lamina's progress bars): a sixth of a
# second of every command that talks to a registry. lamina never uses that tool; marking it
# absent makes httpx define its stub instead.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
