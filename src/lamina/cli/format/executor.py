"""The executor of parsed Go templates: walks nodes over Python data, as Go's exec.go does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from lamina.cli.format import nodes as n
from lamina.cli.format.funcs import Func, FuncError, is_true
from lamina.cli.format.gofmt import (
    MISSING,
    GoMap,
    format_value,
    go_type,
    is_struct,
    quote,
    sorted_items,
    struct_items,
)
from lamina.errors import InvalidArgument


class ExecError(Exception):
    """Execution failed; ``str`` is Go's message (``template: :1:2: executing ...``)."""


class _NoFinal:
    """No value piped in from a previous command (Go's missingVal)."""


_NO_FINAL: Any = _NoFinal()
# Go allows 100000 nested template calls; Python's stack allows fewer.
MAX_DEPTH = 300
_BUILTIN_TYPES = (str, int, float, bool, list, tuple, bytes, type(None))


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _method(receiver: Any, name: str) -> Callable[..., Any] | None:
    """A Go-style method of the receiver: a callable attribute of a non-builtin object."""
    if isinstance(receiver, _BUILTIN_TYPES):
        return None
    if isinstance(receiver, dict) and (
            hasattr(dict, name) or not callable(getattr(type(receiver), name, None))):
        return None
    attr = getattr(receiver, name, None)
    if callable(attr) and not isinstance(attr, type) and hasattr(attr, "__self__"):
        return attr
    return None


class State:
    def __init__(self, text: str, missing_error: bool, funcs: Mapping[str, Func],
                 data: Any, trees: Mapping[str, n.ListNode] | None = None,
                 depth: int = 0, name: str = "") -> None:
        if data is None:
            data = MISSING  # Execute(w, nil): dot is Go's invalid value, printed <no value>
        self.text = text
        self.missing_error = missing_error
        self.trees = trees or {}
        self.depth = depth
        self.name = name  # of the template being executed, for errors
        self.funcs = funcs
        self.out: list[str] = []
        self.vars: list[list[Any]] = [["$", data]]
        self.node: n.Node | None = None

    # -- errors and variables --------------------------------------------------------------

    def at(self, node: n.Node) -> None:
        self.node = node

    def error(self, message: str) -> NoReturn:
        node = self.node
        if node is None:
            raise ExecError(f"template: : {message}")
        before = self.text[: node.pos].encode()
        nl = before.rfind(b"\n")
        col = len(before) if nl < 0 else len(before) - (nl + 1)
        line = 1 + before.count(b"\n")
        raise ExecError(f"template: :{line}:{col}: executing {quote(self.name)} at <{node}>: "
                        f"{message}")

    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.error(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.error(f"undefined variable: {name}")

    # -- walking ---------------------------------------------------------------------------

    def walk(self, dot: Any, node: n.Node) -> None:
        self.at(node)
        if isinstance(node, n.TextNode):
            self.out.append(node.text)
        elif isinstance(node, n.ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, n.ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.at(node)
                self.out.append(format_value(value))
        elif isinstance(node, n.BranchNode):
            if node.keyword == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, n.TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, n.BreakNode):
            raise _Break
        elif isinstance(node, n.ContinueNode):
            raise _Continue
        else:  # pragma: no cover - the parser makes no other nodes
            self.error(f"unknown node: {node}")

    def walk_template(self, dot: Any, node: n.TemplateNode) -> None:
        self.at(node)
        tree = self.trees.get(node.name)
        if tree is None:
            self.error(f"template {quote(node.name)} not defined")
        if self.depth >= MAX_DEPTH:
            self.error(f"exceeded maximum template depth ({MAX_DEPTH})")
        # Variables of the pipeline persist; the template sees only $ (no dynamic scoping).
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        inner = State(self.text, self.missing_error, self.funcs, value, self.trees,
                      self.depth + 1, node.name)
        inner.out = self.out
        try:
            inner.walk(inner.vars[0][1], tree)
        finally:
            self.node = inner.node

    def walk_if_or_with(self, dot: Any, node: n.BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(value if node.keyword == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: n.BranchNode) -> None:
        self.at(node)
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            items: list[tuple[Any, Any]]
            if value is None or value is MISSING:
                items = []
            elif isinstance(value, list | tuple):
                items = list(enumerate(value))
            elif isinstance(value, dict) and not is_struct(value):
                items = sorted_items(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                items = [(i, i) for i in range(value)]
            else:
                self.error(f"range can't iterate over {format_value(value)}")
            body_mark = len(self.vars)
            for key, elem in items:
                decl = node.pipe.decl
                if decl:
                    if node.pipe.is_assign:
                        if len(decl) > 1:
                            self.set_var(decl[0].ident[0], key)
                            self.set_var(decl[1].ident[0], elem)
                        else:
                            self.set_var(decl[0].ident[0], elem)
                    else:
                        self.vars[body_mark - 1][1] = elem
                        if len(decl) > 1:
                            self.vars[body_mark - 2][1] = key
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                except _Break:
                    break
                finally:
                    del self.vars[body_mark:]
            if not items and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def constant(self, node: n.NumberNode) -> int | float:
        self.at(node)
        try:
            return node.constant()
        except OverflowError as exc:
            self.error(str(exc))

    # -- evaluation ------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: n.PipeNode) -> Any:
        self.at(pipe)
        value = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append([var.ident[0], value])
        return value

    def not_a_function(self, args: list[n.Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: n.CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, n.FieldNode):
            self.at(first)
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, n.ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, n.IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, n.PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, n.BoolNode):
            return first.value
        if isinstance(first, n.DotNode):
            return dot
        if isinstance(first, n.NilNode):
            self.error("nil is not a command")
        if isinstance(first, n.NumberNode):
            return self.constant(first)
        if isinstance(first, n.StringNode):
            return first.text
        self.error(f"can't evaluate command {quote(str(first))}")

    def eval_chain(self, dot: Any, chain: n.ChainNode, args: list[n.Node] | None,
                   final: Any) -> Any:
        self.at(chain)
        if isinstance(chain.node, n.NilNode):
            self.error(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, "value", chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, var: n.VariableNode, args: list[n.Node] | None,
                      final: Any) -> Any:
        self.at(var)
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or [var], final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: n.Node, ident: list[str],
                         args: list[n.Node] | None, final: Any) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _NO_FINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(self, dot: Any, name: str, node: n.Node, args: list[n.Node] | None,
                   final: Any, receiver: Any) -> Any:
        if receiver is MISSING:
            if self.missing_error:
                self.error(f"nil data; no entry for key {quote(name)}")
            return MISSING
        if receiver is None:
            self.error(f"nil pointer evaluating interface {{}}.{name}")
        method = _method(receiver, name)
        if method is not None:
            return self.call_method(dot, method, node, name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not _NO_FINAL
        if is_struct(receiver):
            fields = dict(struct_items(receiver))
            if name in fields:
                if has_args:
                    self.error(f"{name} has arguments but cannot be invoked as function")
                return fields[name]
        elif isinstance(receiver, dict):
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            # A GoMap is a map inside a typed Go struct: docker inspect prints <no value>
            # for its missing keys even though it fails on missing struct fields.
            if self.missing_error and not isinstance(receiver, GoMap):
                self.error(f"map has no entry for key {quote(name)}")
            return MISSING
        elif not isinstance(receiver, _BUILTIN_TYPES) and not name.startswith("_"):
            value = getattr(receiver, name, MISSING)
            if value is not MISSING and not callable(value):
                if has_args:
                    self.error(f"{name} has arguments but cannot be invoked as function")
                return value
        self.error(f"can't evaluate field {name} in type {go_type(receiver)}")

    def call_method(self, dot: Any, method: Callable[..., Any], node: n.Node, name: str,
                    args: list[n.Node] | None, final: Any) -> Any:
        import inspect  # only templates that call methods need it
        argv = [self.eval_arg(dot, "any", a) for a in (args or [])[1:]]
        if final is not _NO_FINAL:
            argv.append(final)
        try:
            signature = inspect.signature(method)
            signature.bind(*argv)
        except TypeError:
            want = len([q for q in signature.parameters.values()
                        if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)])
            self.error(f"wrong number of args for {name}: want {want} got {len(argv)}")
        except ValueError:
            pass  # no signature to check (a builtin); let the call decide
        try:
            return method(*argv)
        except (FuncError, InvalidArgument, ValueError, LookupError) as exc:
            self.at(node)
            self.error(f"error calling {name}: {exc}")

    def eval_function(self, dot: Any, ident: n.IdentifierNode, cmd: n.Node,
                      args: list[n.Node] | None, final: Any) -> Any:
        self.at(ident)
        name = ident.name
        func = self.funcs.get(name)
        if func is None:
            self.error(f"{quote(name)} is not a defined function")
        rest = (args or [])[1:]
        num_in = len(rest) + (final is not _NO_FINAL)
        fixed = len(func.params)
        if func.variadic is not None:
            if num_in < fixed:
                self.error(f"wrong number of args for {name}: want at least {fixed} got "
                           f"{len(rest)}")
        elif num_in != fixed:
            self.error(f"wrong number of args for {name}: want {fixed} got {num_in}")
        if name in ("and", "or"):
            value: Any = None
            for arg in rest:
                value = self.eval_arg(dot, "value", arg)
                if is_true(value) == (name == "or"):
                    return value
            if final is not _NO_FINAL:
                value = final
            return value
        argv = [self.eval_arg(dot, func.params[i] if i < fixed else str(func.variadic), arg)
                for i, arg in enumerate(rest)]
        if final is not _NO_FINAL:
            if func.variadic is None or num_in - 1 < fixed:
                kind = func.params[num_in - 1] if func.variadic else func.params[-1]
            else:
                kind = func.variadic
            argv.append(self.validate(final, kind))
        try:
            return func.impl(*argv)
        except FuncError as exc:
            self.at(cmd)
            self.error(f"error calling {name}: {exc}")

    # -- arguments -------------------------------------------------------------------------

    _GO_NAMES = {"string": "string", "int": "int", "bool": "bool", "strings": "[]string"}

    def validate(self, value: Any, kind: str) -> Any:
        if kind == "value":
            return value
        if value is MISSING:
            if kind in ("any", "strings"):
                return None
            self.error(f"invalid value; expected {self._GO_NAMES[kind]}")
        if kind == "any":
            return value
        ok = {
            "string": lambda v: isinstance(v, str),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            "strings": lambda v: v is None or (isinstance(v, list | tuple)
                                               and all(isinstance(x, str) for x in v)),
        }[kind](value)
        if not ok:
            got = "interface {}" if value is None else go_type(value)
            self.error(f"wrong type for value; expected {self._GO_NAMES[kind]}; got {got}")
        return list(value) if kind == "strings" and value is not None else value

    def eval_arg(self, dot: Any, kind: str, node: n.Node) -> Any:
        self.at(node)
        if isinstance(node, n.DotNode):
            return self.validate(dot, kind)
        if isinstance(node, n.NilNode):
            if kind in ("value", "any", "strings"):
                return MISSING if kind == "value" else None
            self.error(f"cannot assign nil to {self._GO_NAMES[kind]}")
        if isinstance(node, n.FieldNode):
            return self.validate(
                self.eval_field_chain(dot, dot, node, node.ident, [node], _NO_FINAL), kind)
        if isinstance(node, n.VariableNode):
            return self.validate(self.eval_variable(dot, node, None, _NO_FINAL), kind)
        if isinstance(node, n.PipeNode):
            return self.validate(self.eval_pipeline(dot, node), kind)
        if isinstance(node, n.IdentifierNode):
            return self.validate(self.eval_function(dot, node, node, None, _NO_FINAL), kind)
        if isinstance(node, n.ChainNode):
            return self.validate(self.eval_chain(dot, node, None, _NO_FINAL), kind)
        if kind in ("value", "any"):
            if isinstance(node, n.BoolNode):
                return node.value
            if isinstance(node, n.NumberNode):
                return self.constant(node)
            if isinstance(node, n.StringNode):
                return node.text
        elif kind == "bool" and isinstance(node, n.BoolNode):
            return node.value
        elif kind == "string" and isinstance(node, n.StringNode):
            return node.text
        elif kind == "int" and isinstance(node, n.NumberNode) and node.int_value is not None:
            return node.int_value
        expected = {"bool": "bool", "string": "string", "int": "integer"}.get(kind)
        if expected is None:
            self.error(f"can't handle {node} for arg of type {self._GO_NAMES.get(kind, kind)}")
        self.error(f"expected {expected}; found {node}")
