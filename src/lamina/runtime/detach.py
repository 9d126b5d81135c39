"""Detach keys: the key sequence that leaves an attached container running (docker's
``--detach-keys``, by default Ctrl-P then Ctrl-Q), and spotting it in what the user types."""

from __future__ import annotations

from lamina.errors import InvalidArgument

DEFAULT = "ctrl-p,ctrl-q"
# ctrl- and one of these: the control characters after Ctrl-Z
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_keys(text: str) -> bytes:
    """``ctrl-p,ctrl-q``, ``a,ctrl-@``...: the bytes the sequence is made of."""
    out = bytearray()
    for key in text.split(","):
        lowered = key.lower()
        if len(key) > 1 and lowered.startswith("ctrl-") and len(key) == 6:
            c = lowered[5]
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
                continue
            if c in _CTRL_SPECIAL:
                out.append(_CTRL_SPECIAL[c])
                continue
        elif len(key) == 1 and key.isprintable():
            out.append(ord(key))
            continue
        raise InvalidArgument(f"Invalid escape keys ({text}) provided")
    if not out:
        raise InvalidArgument(f"Invalid escape keys ({text}) provided")
    return bytes(out)


class Matcher:
    """Watches typed input for the sequence: ``feed`` returns what may pass on to the
    container, and sets ``detached`` once the whole sequence was typed. A partial sequence is
    held back, and passed on if what follows does not complete it (as docker does)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                self.held = candidate
                if candidate == self.keys:
                    self.detached = True
                    self.held = b""
                    return bytes(out)
                continue
            out += self.held
            self.held = b""
            if self.keys.startswith(bytes([byte])):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out)
