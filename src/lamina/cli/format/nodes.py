"""The nodes of a parsed Go template, printed as Go prints them in error messages."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    is_uint: bool = False  # fits uint64 but not int64: "overflows int" when used

    def __str__(self) -> str:
        return self.text

    def constant(self) -> int | float:
        """Go's idealConstant: the literal's syntax picks int or float64."""
        text = self.text
        hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(
            c in text for c in "pP")
        if self.float_value is not None and not hex_int and not self.is_rune and any(
                c in text for c in ".eEpP"):
            return self.float_value
        if self.int_value is None:
            raise OverflowError(f"{text} overflows int")
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
class TemplateNode(Node):
    """``{{template "name" pipeline}}`` (and the call half of ``{{block}}``)."""

    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        from lamina.cli.format.gofmt import quote

        if self.pipe is None:
            return "{{template " + quote(self.name) + "}}"
        return "{{template " + quote(self.name) + " " + str(self.pipe) + "}}"


@dataclass
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass
class EndNode(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass
class ElseNode(Node):
    def __str__(self) -> str:
        return "{{else}}"
