"""The parser of Go's text/template: tokens to a tree of nodes, with Go's error messages.

The result is the main tree and the trees named by ``{{define}}`` and ``{{block}}``.
"""

from __future__ import annotations

from collections.abc import Collection

from lamina.cli.format.gofmt import quote
from lamina.cli.format.lex import T, Token, tokenize
from lamina.cli.format.literals import parse_number, unquote
from lamina.cli.format.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
)


class ParseError(Exception):
    """A template that Go would refuse to parse; ``str`` is Go's message without a prefix."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Parser:
    def __init__(self, text: str, functions: Collection[str]) -> None:
        self.tokens = tokenize(text)
        self.index = 0
        self.functions = functions
        self.vars = ["$"]
        self.trees: dict[str, ListNode] = {}
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

    def expect(self, typ: int, context: str) -> Token:
        tok = self.next_non_space()
        if tok.typ != typ:
            raise self.unexpected(tok, context)
        return tok

    # -- grammar ---------------------------------------------------------------------------

    def parse(self) -> ListNode:
        root = ListNode(self.peek().pos)
        while self.peek().typ != T.EOF:
            if self.peek().typ == T.LDELIM:
                at = self.index
                delim = self.next()
                if self.next_non_space().typ == T.DEFINE:
                    self.action_line = delim.line
                    self.definition()
                    self.action_line = 0
                    continue
                self.index = at
            node = self.text_or_action()
            if isinstance(node, EndNode | ElseNode):
                raise self.error(f"unexpected {node}")
            root.nodes.append(node)
        return root

    def add_tree(self, name: str, tree: ListNode) -> None:
        old = self.trees.get(name)
        if old is not None and not _is_empty(old) and not _is_empty(tree):
            raise self.error(f"template: multiple definition of template {quote(name)}")
        if old is None or _is_empty(old):
            self.trees[name] = tree

    def template_name(self, tok: Token, context: str) -> str:
        if tok.typ not in (T.STRING, T.RAWSTRING):
            raise self.unexpected(tok, context)
        try:
            return unquote(tok.val)
        except ValueError as exc:
            raise self.error(str(exc)) from None

    def definition(self) -> None:
        """``{{define "name"}} ... {{end}}``; the define keyword is past."""
        context = "define clause"
        name = self.template_name(self.next_non_space(), context)
        self.expect(T.RDELIM, context)
        saved, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved
        if not isinstance(end, EndNode):
            raise self.error(f"unexpected {end} in {context}")
        self.add_tree(name, body)

    def template_call(self, tok: Token, block: bool) -> TemplateNode:
        context = "block clause" if block else "template clause"
        name_tok = self.next_non_space()
        name = self.template_name(name_tok, context)
        pipe: PipeNode | None = None
        if block:
            pipe = self.pipeline(context, T.RDELIM)
            saved, self.vars = self.vars, ["$"]
            body, end = self.item_list()
            self.vars = saved
            if not isinstance(end, EndNode):
                raise self.error(f"unexpected {end} in {context}")
            self.add_tree(name, body)
        elif self.next_non_space().typ != T.RDELIM:
            self.backup()
            pipe = self.pipeline(context, T.RDELIM)
        return TemplateNode(name_tok.pos, name_tok.line, name, pipe)

    def item_list(self) -> tuple[ListNode, Node]:
        items = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T.EOF:
            node = self.text_or_action()
            if isinstance(node, EndNode | ElseNode):
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
                return ElseNode(peek.pos)
            return ElseNode(self.expect(T.RDELIM, "else").pos)
        if tok.typ == T.END:
            return EndNode(self.expect(T.RDELIM, "end").pos)
        if tok.typ in (T.TEMPLATE, T.BLOCK):
            return self.template_call(tok, tok.typ == T.BLOCK)
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
            if isinstance(nxt, ElseNode):
                follow = self.peek()
                if keyword in ("if", "with") and follow.typ == (T.IF if keyword == "if"
                                                                else T.WITH):
                    self.next()
                    # "{{else if x}}" is "{{else}}{{if x}}...{{end}}{{end}}" sharing one end.
                    else_body = ListNode(nxt.pos, [self.control(keyword)])
                else:
                    else_body, end = self.item_list()
                    if not isinstance(end, EndNode):
                        raise self.error(f"expected end; found {end}")
            return BranchNode(pipe.pos, keyword, pipe.line, pipe, body, else_body)
        finally:
            del self.vars[mark:]

    def pipeline(self, context: str, end: int) -> PipeNode:
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
            raise self.error(f"unexpected . after term {quote(str(node))}")
        return chain

    def term(self) -> Node | None:
        tok = self.next_non_space()
        typ = tok.typ
        if typ == T.IDENT:
            if tok.val not in self.functions:
                raise self.error(f"function {quote(tok.val)} not defined")
            return IdentifierNode(tok.pos, tok.val)
        if typ == T.DOT:
            return DotNode(tok.pos)
        if typ == T.NIL:
            return NilNode(tok.pos)
        if typ == T.VARIABLE:
            name = tok.val.split(".")[0]
            if name not in self.vars:
                raise self.error(f"undefined variable {quote(name)}")
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



def _is_empty(tree: ListNode) -> bool:
    """Go's IsEmptyTree: nothing but blank text (a redefinition may then replace it)."""
    return all(isinstance(node, TextNode) and not node.text.strip() for node in tree.nodes)


def parse(text: str, functions: Collection[str]) -> tuple[ListNode, dict[str, ListNode]]:
    """Parse a template into its main tree and its named trees.

    Raises ParseError with Go's message and line.
    """
    parser = _Parser(text, functions)
    root = parser.parse()
    return root, parser.trees
