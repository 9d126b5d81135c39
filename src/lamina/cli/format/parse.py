"""The parser of Go's text/template: tokens to a tree of nodes, with Go's error messages.

``{{define}}``, ``{{template}}`` and ``{{block}}`` are not supported (docker's ``--format``
has no use for them); everything else of the action grammar is.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from lamina.cli.format.lex import T, Token, tokenize


class ParseError(Exception):
    """A template that Go would refuse to parse; ``str`` is Go's message without a prefix."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# -- nodes --------------------------------------------------------------------------------


@dataclass
class Node:
    pos: int

    def __str__(self) -> str:  # pragma: no cover - every node overrides it
        return type(self).__name__


@dataclass
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return repr(self.text)


@dataclass
class FieldNode(Node):
    ident: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass
class VariableNode(Node):
    ident: list[str]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass
class IdentifierNode(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass
class NumberNode(Node):
    text: str
    int_value: int | None
    float_value: float | None
    is_rune: bool = False

    def __str__(self) -> str:
        return self.text

    def constant(self) -> int | float:
        """Go's idealConstant: the literal's syntax picks int or float64."""
        text = self.text
        hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(
            c in text for c in "pP")
        if (self.float_value is not None and not hex_int and not self.is_rune
                and any(c in text for c in ".eEpP")) or self.int_value is None:
            assert self.float_value is not None
            return self.float_value
        return self.int_value


@dataclass
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass
class PipeNode(Node):
    line: int
    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(d) for d in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass
class ChainNode(Node):
    node: Node
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass
class ActionNode(Node):
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass
class BranchNode(Node):
    """if, range and with."""

    keyword: str
    line: int
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclass
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass
class _EndNode(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass
class _ElseNode(Node):
    def __str__(self) -> str:
        return "{{else}}"


# -- literals -----------------------------------------------------------------------------

_DECIMAL_INT = re.compile(r"[+-]?(0|[1-9](_?[0-9])*)$")
_OCTAL_INT = re.compile(r"[+-]?0(_?[0-7])+$")


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_HEX = set("0123456789abcdefABCDEF")


def _escape(body: str, i: int, quote: str) -> tuple[bool, int, int]:
    """Decode one Go escape at ``body[i]`` (just after the backslash).

    Returns (is_byte, value, next index): hex and octal escapes are bytes, others runes.
    """
    if i >= len(body):
        raise ValueError("invalid syntax")
    c = body[i]
    if c in _SIMPLE_ESCAPES:
        return False, _SIMPLE_ESCAPES[c], i + 1
    if c == quote:
        return False, ord(c), i + 1
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = body[i + 1: i + 1 + n]
        if len(digits) != n or not set(digits) <= _HEX:
            raise ValueError("invalid syntax")
        value = int(digits, 16)
        if c != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
            raise ValueError("invalid syntax")
        return c == "x", value, i + 1 + n
    if c in "01234567":
        digits = body[i: i + 3]
        if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
            raise ValueError("invalid syntax")
        return True, int(digits, 8), i + 3
    raise ValueError("invalid syntax")


def unquote(text: str) -> str:
    """strconv.Unquote of a "..." or `...` literal."""
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch in ('"', "\n"):
            raise ValueError("invalid syntax")
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        is_byte, value, i = _escape(body, i + 1, '"')
        out += bytes([value]) if is_byte else chr(value).encode()
    return out.decode("utf-8", "replace")


def unquote_char(text: str) -> int:
    """The rune of a Go character constant such as ``'a'`` or ``'\\n'``."""
    body = text[1:-1]
    if body.startswith("\\"):
        _, value, end = _escape(body, 1, "'")
    elif body and body[0] != "'":
        value, end = ord(body[0]), 1
    else:
        end, value = -1, 0
    if end != len(body):
        raise ValueError(f"malformed character constant: {text}")
    return value


def parse_number(pos: int, text: str, typ: T) -> NumberNode:
    if typ == T.CHARCONST:
        try:
            code = unquote_char(text)
        except ValueError:
            raise ValueError(f"malformed character constant: {text}") from None
        return NumberNode(pos, text, code, float(code), is_rune=True)
    if typ == T.COMPLEX or text.endswith("i"):
        raise ValueError(f"complex numbers are not supported: {text}")
    int_value: int | None = None
    float_value: float | None = None
    clean = text.replace("_", "")
    try:
        if _OCTAL_INT.match(text):
            int_value = int(clean.replace("0", "0o", 1) if clean[0] == "0" else
                            clean[0] + "0o" + clean[2:], 0)
        elif _DECIMAL_INT.match(text) or (clean.lower().lstrip("+-").startswith(
                ("0x", "0o", "0b")) and "." not in clean and "p" not in clean.lower()):
            int_value = int(clean, 0)
    except ValueError:
        int_value = None
    if int_value is not None:
        float_value = float(int_value)
    else:
        try:
            if "x" in clean.lower():
                float_value = float.fromhex(clean)
            elif re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", clean):
                float_value = float(clean)
        except ValueError:
            float_value = None
        if float_value is None:
            raise ValueError(f"illegal number syntax: {_go_quote(text)}")
        if float_value.is_integer() and abs(float_value) < 2**63:
            int_value = int(float_value)
    return NumberNode(pos, text, int_value, float_value)


# -- parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, functions: Collection[str]) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.functions = functions
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.last = self.tokens[0]

    def next(self) -> Token:
        tok = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        self.last = tok
        return tok

    def backup(self, n: int = 1) -> None:
        self.index -= n

    def peek(self) -> Token:
        tok = self.next()
        self.backup()
        return tok

    def next_non_space(self) -> Token:
        tok = self.next()
        while tok.typ == T.SPACE:
            tok = self.next()
        return tok

    def peek_non_space(self) -> Token:
        tok = self.next_non_space()
        self.backup()
        return tok

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.last.line)

    def unexpected(self, tok: Token, context: str) -> ParseError:
        if tok.typ == T.ERROR:
            extra = ""
            if self.action_line and self.action_line != tok.line:
                extra = f" in action started at :{self.action_line}"
                if tok.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            return self.error(f"{tok}{extra}")
        return self.error(f"unexpected {tok} in {context}")

    def expect(self, typ: T, context: str) -> Token:
        tok = self.next_non_space()
        if tok.typ != typ:
            raise self.unexpected(tok, context)
        return tok

    # -- grammar ---------------------------------------------------------------------------

    def parse(self) -> ListNode:
        root = ListNode(self.peek().pos)
        while self.peek().typ != T.EOF:
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                raise self.error(f"unexpected {node}")
            root.nodes.append(node)
        return root

    def item_list(self) -> tuple[ListNode, Node]:
        items = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T.EOF:
            node = self.text_or_action()
            if isinstance(node, _EndNode | _ElseNode):
                return items, node
            items.nodes.append(node)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ == T.TEXT:
            return TextNode(tok.pos, tok.val)
        if tok.typ == T.LDELIM:
            self.action_line = tok.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(tok, "input")

    def action(self) -> Node:
        tok = self.next_non_space()
        if tok.typ in (T.IF, T.RANGE, T.WITH):
            return self.control(tok.val)
        if tok.typ == T.ELSE:
            peek = self.peek_non_space()
            if peek.typ in (T.IF, T.WITH):
                return _ElseNode(peek.pos)
            return _ElseNode(self.expect(T.RDELIM, "else").pos)
        if tok.typ == T.END:
            return _EndNode(self.expect(T.RDELIM, "end").pos)
        if tok.typ in (T.BREAK, T.CONTINUE):
            after = self.next_non_space()
            if after.typ != T.RDELIM:
                raise self.unexpected(after, "{{" + tok.val + "}}")
            if self.range_depth == 0:
                raise self.error("{{" + tok.val + "}} outside {{range}}")
            return BreakNode(tok.pos) if tok.typ == T.BREAK else ContinueNode(tok.pos)
        self.backup()
        start = self.peek()
        return ActionNode(start.pos, start.line, self.pipeline("command", T.RDELIM))

    def control(self, keyword: str) -> BranchNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(keyword, T.RDELIM)
            if keyword == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if keyword == "range":
                self.range_depth -= 1
            else_body: ListNode | None = None
            if isinstance(nxt, _ElseNode):
                follow = self.peek()
                if keyword in ("if", "with") and follow.typ == (T.IF if keyword == "if"
                                                                else T.WITH):
                    self.next()
                    # "{{else if x}}" is "{{else}}{{if x}}...{{end}}{{end}}" sharing one end.
                    else_body = ListNode(nxt.pos, [self.control(keyword)])
                else:
                    else_body, end = self.item_list()
                    if not isinstance(end, _EndNode):
                        raise self.error(f"expected end; found {end}")
            return BranchNode(pipe.pos, keyword, pipe.line, pipe, body, else_body)
        finally:
            del self.vars[mark:]

    def pipeline(self, context: str, end: T) -> PipeNode:
        first = self.peek_non_space()
        pipe = PipeNode(first.pos, first.line)
        while True:  # declarations
            var = self.peek_non_space()
            if var.typ != T.VARIABLE:
                break
            at_var = self.index
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.typ == T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(var.pos, [var.val]))
                self.vars.append(var.val)
                break
            if nxt.typ == T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(var.pos, [var.val]))
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RDELIM, T.RPAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            # Not a declaration: put the variable back; it starts a command.
            self.index = at_var
            break
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if tok.typ in (T.BOOL, T.CHARCONST, T.COMPLEX, T.DOT, T.FIELD, T.IDENT, T.NUMBER,
                           T.NIL, T.RAWSTRING, T.STRING, T.VARIABLE, T.LPAREN):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.error(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == T.SPACE:
                continue
            if tok.typ in (T.RDELIM, T.RPAREN):
                self.backup()
            elif tok.typ != T.PIPE:
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().typ != T.FIELD:
            return node
        chain = ChainNode(self.peek().pos, node)
        while self.peek().typ == T.FIELD:
            chain.fields.append(self.next().val[1:])
        if isinstance(node, FieldNode):
            return FieldNode(chain.pos, node.ident + chain.fields)
        if isinstance(node, VariableNode):
            return VariableNode(chain.pos, node.ident + chain.fields)
        if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
            raise self.error(f"unexpected . after term {_go_quote(str(node))}")
        return chain

    def term(self) -> Node | None:
        tok = self.next_non_space()
        typ = tok.typ
        if typ == T.IDENT:
            if tok.val not in self.functions:
                raise self.error(f"function {_go_quote(tok.val)} not defined")
            return IdentifierNode(tok.pos, tok.val)
        if typ == T.DOT:
            return DotNode(tok.pos)
        if typ == T.NIL:
            return NilNode(tok.pos)
        if typ == T.VARIABLE:
            name = tok.val.split(".")[0]
            if name not in self.vars:
                raise self.error(f"undefined variable {_go_quote(name)}")
            return VariableNode(tok.pos, [tok.val])
        if typ == T.FIELD:
            return FieldNode(tok.pos, [tok.val[1:]])
        if typ == T.BOOL:
            return BoolNode(tok.pos, tok.val == "true")
        if typ in (T.CHARCONST, T.COMPLEX, T.NUMBER):
            try:
                return parse_number(tok.pos, tok.val, typ)
            except ValueError as exc:
                raise self.error(str(exc)) from None
        if typ == T.LPAREN:
            return self.pipeline("parenthesized pipeline", T.RPAREN)
        if typ in (T.STRING, T.RAWSTRING):
            try:
                return StringNode(tok.pos, tok.val, unquote(tok.val))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        self.backup()
        return None


def _go_quote(text: str) -> str:
    from lamina.cli.format.gofmt import quote

    return quote(text)


def parse(text: str, functions: Collection[str]) -> ListNode:
    """Parse a template; raises ParseError with Go's message and line."""
    return _Parser(text, functions).parse()
