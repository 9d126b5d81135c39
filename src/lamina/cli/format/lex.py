"""The lexer of Go's text/template: text, actions, trim markers, comments, literals.

It follows the token grammar of Go's text/template/parse so that templates that Go accepts
tokenize the same way, and so that errors carry the same words ("unclosed action", "bad
character U+0023 '#'").
"""

from __future__ import annotations

import unicodedata

from lamina.cli.format.gofmt import quote


class T:
    """Token types; those after KEYWORD are keywords (printed as ``<name>`` in errors).

    Plain ints rather than an enum, to keep the import cheap.
    """

    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHARCONST = 3
    COMPLEX = 4
    ASSIGN = 5
    DECLARE = 6
    EOF = 7
    FIELD = 8
    IDENT = 9
    LDELIM = 10
    LPAREN = 11
    NUMBER = 12
    PIPE = 13
    RAWSTRING = 14
    RDELIM = 15
    RPAREN = 16
    SPACE = 17
    STRING = 18
    TEXT = 19
    VARIABLE = 20
    KEYWORD = 21
    BLOCK = 22
    BREAK = 23
    CONTINUE = 24
    DOT = 25
    DEFINE = 26
    ELSE = 27
    END = 28
    IF = 29
    NIL = 30
    RANGE = 31
    TEMPLATE = 32
    WITH = 33


KEYWORDS = {
    ".": T.DOT, "block": T.BLOCK, "break": T.BREAK, "continue": T.CONTINUE, "define": T.DEFINE,
    "else": T.ELSE, "end": T.END, "if": T.IF, "range": T.RANGE, "nil": T.NIL,
    "template": T.TEMPLATE, "with": T.WITH,
}

SPACE_CHARS = " \t\r\n"
LEFT, RIGHT = "{{", "}}"


class Token:
    """A token: its type, its position (index in the text), its text and its line."""

    __slots__ = ("line", "pos", "typ", "val")

    def __init__(self, typ: int, pos: int, val: str, line: int) -> None:
        self.typ = typ
        self.pos = pos
        self.val = val
        self.line = line

    def __str__(self) -> str:
        if self.typ == T.EOF:
            return "EOF"
        if self.typ == T.ERROR:
            return self.val
        if self.typ > T.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return quote(self.val[:10]) + "..."
        return quote(self.val)


def describe_rune(ch: str) -> str:
    """Go's %#U: ``U+0023 '#'``."""
    text = f"U+{ord(ch):04X}"
    return f"{text} '{ch}'" if ch.isprintable() else text


def is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.tokens: list[Token] = []
        self.failed = False

    # -- helpers -------------------------------------------------------------------------

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def line_at(self, pos: int) -> int:
        return 1 + self.text.count("\n", 0, pos)

    def emit(self, typ: int) -> None:
        self.tokens.append(Token(typ, self.start, self.text[self.start:self.pos],
                                 self.line_at(self.start)))
        self.start = self.pos

    def error(self, message: str) -> None:
        # Go reports an error on the line where the failing item started.
        self.tokens.append(Token(T.ERROR, self.start, message, self.line_at(self.start)))
        self.failed = True

    def accept(self, valid: str) -> bool:
        if self.pos < len(self.text) and self.text[self.pos] in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def has_right_trim(self, at: int) -> bool:
        s = self.text
        return at + 1 < len(s) and s[at] in SPACE_CHARS and s[at + 1] == "-"

    def at_right_delim(self) -> tuple[bool, bool]:
        if self.text.startswith(RIGHT, self.pos):
            return True, False
        if self.has_right_trim(self.pos) and self.text.startswith(RIGHT, self.pos + 2):
            return True, True
        return False, False

    def at_terminator(self) -> bool:
        ch = self.peek()
        return (ch == "" or ch in SPACE_CHARS or ch in ".,|:)("
                or self.text.startswith(RIGHT, self.pos))

    # -- states --------------------------------------------------------------------------

    def run(self) -> list[Token]:
        inside = False
        while not self.failed:
            if not inside:
                if not self.lex_text():
                    break
                inside = self.lex_left_delim()
            else:
                inside = self.lex_inside_action()
        return self.tokens

    def lex_text(self) -> bool:
        """Emit text up to the next action; False at the end of input."""
        x = self.text.find(LEFT, self.pos)
        if x < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self.emit(T.TEXT)
            self.emit(T.EOF)
            return False
        self.pos = x
        after = x + len(LEFT)
        trim = 0
        if self.text.startswith("-", after) and self.text[after + 1: after + 2] in tuple(
                SPACE_CHARS):
            chunk = self.text[self.start:x]
            trim = len(chunk) - len(chunk.rstrip(SPACE_CHARS))
        self.pos -= trim
        if self.pos > self.start:
            self.emit(T.TEXT)
        self.pos += trim
        self.start = self.pos
        return True

    def lex_left_delim(self) -> bool:
        """Scan ``{{`` (and a trim marker); True if an action follows, False after a comment."""
        self.pos += len(LEFT)
        s = self.text
        trim = s.startswith("-", self.pos) and s[self.pos + 1: self.pos + 2] in tuple(
            SPACE_CHARS)
        after = 2 if trim else 0
        if s.startswith("/*", self.pos + after):
            self.pos += after
            self.start = self.pos
            self.lex_comment()
            return False
        self.emit(T.LDELIM)
        self.pos += after
        self.start = self.pos
        self.paren_depth = 0
        return True

    def lex_comment(self) -> None:
        self.pos += 2
        end = self.text.find("*/", self.pos)
        if end < 0:
            self.error("unclosed comment")
            return
        self.pos = end + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
            return
        self.pos += (2 if trim else 0) + len(RIGHT)
        if trim:
            rest = self.text[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        self.start = self.pos

    def lex_right_delim(self) -> None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += len(RIGHT)
        self.emit(T.RDELIM)
        if trim:
            rest = self.text[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
            self.start = self.pos

    def lex_inside_action(self) -> bool:
        """Scan one token inside an action; False once the action is closed."""
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                self.lex_right_delim()
                return False
            self.error("unclosed left paren")
            return True
        ch = self.peek()
        if ch == "":
            self.error("unclosed action")
            return True
        self.pos += 1
        if ch in SPACE_CHARS:
            self.pos -= 1
            return self.lex_space()
        if ch == "=":
            self.emit(T.ASSIGN)
        elif ch == ":":
            if not self.accept("="):
                self.error("expected :=")
            else:
                self.emit(T.DECLARE)
        elif ch == "|":
            self.emit(T.PIPE)
        elif ch == '"':
            self.lex_quote('"', T.STRING, "unterminated quoted string")
        elif ch == "'":
            self.lex_quote("'", T.CHARCONST, "unterminated character constant")
        elif ch == "`":
            end = self.text.find("`", self.pos)
            if end < 0:
                self.error("unterminated raw quoted string")
            else:
                self.pos = end + 1
                self.emit(T.RAWSTRING)
        elif ch == "$":
            self.lex_field_or_variable(T.VARIABLE)
        elif ch == "." and self.peek() != "" and not self.peek().isdigit():
            self.lex_field_or_variable(T.FIELD)
        elif ch in "+-." or ch.isdigit():
            self.pos -= 1
            self.lex_number()
        elif is_alnum(ch):
            self.pos -= 1
            self.lex_identifier()
        elif ch == "(":
            self.emit(T.LPAREN)
            self.paren_depth += 1
        elif ch == ")":
            self.emit(T.RPAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error("unexpected right paren")
        elif ord(ch) < 0x80 and ch.isprintable():
            self.emit(T.CHAR)
        else:
            self.error(f"unrecognized character in action: {describe_rune(ch)}")
        return True

    def lex_space(self) -> bool:
        count = 0
        while self.peek() != "" and self.peek() in SPACE_CHARS:
            self.pos += 1
            count += 1
        if self.has_right_trim(self.pos - 1) and self.text.startswith(RIGHT, self.pos + 1):
            self.pos -= 1
            if count == 1:
                self.lex_right_delim()
                return False
        self.emit(T.SPACE)
        return True

    def lex_quote(self, quote: str, typ: int, message: str) -> None:
        while True:
            ch = self.peek()
            self.pos += 1
            if ch == "\\":
                nxt = self.peek()
                if nxt not in ("", "\n"):
                    self.pos += 1
                    continue
                self.error(message)
                return
            if ch in ("", "\n"):
                self.error(message)
                return
            if ch == quote:
                self.emit(typ)
                return

    def lex_field_or_variable(self, typ: int) -> None:
        if self.at_terminator():
            self.emit(T.DOT if typ == T.FIELD else T.VARIABLE)
            return
        while self.peek() != "" and is_alnum(self.peek()):
            self.pos += 1
        if not self.at_terminator():
            self.error(f"bad character {describe_rune(self.peek())}")
            return
        self.emit(typ)

    def lex_identifier(self) -> None:
        while self.peek() != "" and is_alnum(self.peek()):
            self.pos += 1
        word = self.text[self.start:self.pos]
        if not self.at_terminator():
            self.error(f"bad character {describe_rune(self.peek())}")
            return
        if word in KEYWORDS:
            self.emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self.emit(T.BOOL)
        else:
            self.emit(T.IDENT)

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if self.peek() != "" and is_alnum(self.peek()):
            self.pos += 1
            return False
        return True

    def lex_number(self) -> None:
        if not self.scan_number():
            self.error(f"bad number syntax: {quote(self.text[self.start:self.pos])}")
            return
        if self.peek() in ("+", "-") and self.peek() != "":
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                self.error(f"bad number syntax: {quote(self.text[self.start:self.pos])}")
                return
            self.emit(T.COMPLEX)
        else:
            self.emit(T.NUMBER)


def tokenize(text: str) -> list[Token]:
    """All tokens of a template; the last is EOF or ERROR."""
    return _Lexer(text).run()
