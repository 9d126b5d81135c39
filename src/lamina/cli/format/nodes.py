"""The nodes of a parsed Go template, printed as Go prints them in error messages."""

from __future__ import annotations

from typing import Any

# Plain classes rather than dataclasses: a template engine that ``lamina images`` imports
# should not spend milliseconds generating code for twenty node types.


class Node:
    """A node: its fields are the annotated names of its class and bases, in order.

    Positional arguments fill them in order; an annotated name with a class-level default may
    be left out, and one listed in ``_lists`` starts as a new empty list.
    """

    pos: int
    _fields: tuple[str, ...] = ("pos",)
    _lists: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in getattr(klass, "__annotations__", {}):
                if not name.startswith("_") and name not in names:
                    names.append(name)
        cls._fields = tuple(names)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self._fields) or not set(kwargs) <= set(self._fields):
            raise TypeError(f"{type(self).__name__} takes the fields {self._fields}")
        for name, value in zip(self._fields, args, strict=False):
            setattr(self, name, value)
        for name, value in kwargs.items():
            setattr(self, name, value)
        for name in self._fields[len(args):]:
            if name in kwargs:
                continue
            if name in self._lists:
                setattr(self, name, [])
            elif not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__} needs {name}")

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"

    def __str__(self) -> str:  # pragma: no cover - every node overrides it
        return type(self).__name__


class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return repr(self.text)


class FieldNode(Node):
    ident: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class VariableNode(Node):
    ident: list[str]

    def __str__(self) -> str:
        return ".".join(self.ident)


class IdentifierNode(Node):
    name: str

    def __str__(self) -> str:
        return self.name


class DotNode(Node):
    def __str__(self) -> str:
        return "."


class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


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


class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


class PipeNode(Node):
    line: int
    is_assign: bool = False
    decl: list[VariableNode]
    cmds: list[CommandNode]
    _lists = ("decl", "cmds")

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(d) for d in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


class CommandNode(Node):
    args: list[Node]
    _lists = ("args",)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


class ChainNode(Node):
    node: Node
    fields: list[str]
    _lists = ("fields",)

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


class ListNode(Node):
    nodes: list[Node]
    _lists = ("nodes",)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class ActionNode(Node):
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


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


class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


class EndNode(Node):
    def __str__(self) -> str:
        return "{{end}}"


class ElseNode(Node):
    def __str__(self) -> str:
        return "{{else}}"
