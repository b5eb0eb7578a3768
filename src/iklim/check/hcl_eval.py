"""Evaluates HCL values where Terraform would know them before any API call.

Literals, ``local.*`` and ``var.*`` (a variable's ``default``), iterator and ``for`` variables,
operators, conditionals, ``for`` expressions, splats, templates and the pure functions below are
evaluated. Anything else (a variable without default, ``data.*``, resource attributes, template
directives, an unknown function) raises :class:`Unevaluated` with what could not be evaluated.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from iklim.check.hcl import Block, Expr
from iklim.check.yamlload import Pos

MAX_ITEMS = 4096  # elements one for expression or range() may produce


class Unevaluated(Exception):
    """``what`` (source text) cannot be evaluated, because ``why``; at ``pos``."""

    def __init__(self, what: str, why: str, pos: Pos) -> None:
        super().__init__(f"{what}: {why}")
        self.what, self.why, self.pos = what, why, pos


def _flatten(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _cidrsubnet(prefix: str, bits: int, num: int) -> str:
    net = ipaddress.ip_network(prefix, strict=False)
    return str(list(net.subnets(prefixlen_diff=bits))[num]) if bits <= 16 else str(net)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "concat": lambda *lists: [x for part in lists for x in part],
    "flatten": _flatten,
    "distinct": lambda xs: list(dict.fromkeys(xs)),
    "tolist": list,
    "toset": lambda xs: list(dict.fromkeys(xs)),
    "tomap": dict,
    "tostring": lambda x: x if isinstance(x, str) else str(x).lower() if isinstance(x, bool) else str(x),
    "tonumber": lambda x: int(x) if str(x).lstrip("-").isdigit() else float(x),
    "length": len,
    "join": lambda sep, xs: sep.join(map(str, xs)),
    "split": lambda sep, s: s.split(sep),
    "lower": str.lower,
    "upper": str.upper,
    "trimspace": str.strip,
    "format": lambda fmt, *args: fmt.replace("%d", "%s") % args,
    "merge": lambda *maps: {k: v for m in maps for k, v in m.items()},
    "lookup": lambda m, k, *default: m[k] if k in m or not default else default[0],
    "element": lambda xs, i: xs[i % len(xs)],
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "contains": lambda xs, x: x in xs,
    "compact": lambda xs: [x for x in xs if x not in ("", None)],
    "coalesce": lambda *xs: next(x for x in xs if x not in ("", None)),
    "range": lambda *a: list(range(*(int(x) for x in a)))[:MAX_ITEMS],
    "replace": lambda s, old, new: s.replace(old, new),
    "cidrsubnet": _cidrsubnet,
    "cidrhost": lambda prefix, n: str(ipaddress.ip_network(prefix, strict=False)[n]),
}

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "&&": lambda a, b: bool(a) and bool(b),
    "||": lambda a, b: bool(a) or bool(b),
}


class Scope:
    """The names a module's expressions see: its locals, its variables' defaults, bindings."""

    def __init__(self, blocks: list[Block], bindings: Mapping[str, Any] | None = None) -> None:
        self.locals: dict[str, Any] = {}
        self.defaults: dict[str, Any] = {}
        self.declared: set[str] = set()
        for block in blocks:
            if block.type == "locals":
                self.locals.update(block.attrs)
            elif block.type == "variable" and block.labels:
                self.declared.add(block.labels[0])
                if "default" in block.attrs:
                    self.defaults[block.labels[0]] = block.attrs["default"]
        self.bindings = dict(bindings or {})
        self._busy: set[str] = set()

    def bind(self, names: Mapping[str, Any]) -> Scope:
        inner = Scope([], {**self.bindings, **names})
        inner.locals, inner.defaults, inner.declared, inner._busy = (
            self.locals,
            self.defaults,
            self.declared,
            self._busy,
        )
        return inner

    def root(self, name: str, expr: Expr, rest: list[str]) -> Any:
        if name in self.bindings:
            return self.bindings[name]
        attr = rest[0] if rest else ""
        if name == "local" and attr in self.locals:
            return {attr: self._named(f"local.{attr}", self.locals[attr], expr)}
        if name == "var" and attr in self.defaults:
            return {attr: self._named(f"var.{attr}", self.defaults[attr], expr)}
        if name == "var":
            why = "the variable has no default" if attr in self.declared else "no such variable is declared"
            raise Unevaluated(f"var.{attr}", f"{why}: its value is known only when terraform runs", expr.pos)
        if name == "local":
            raise Unevaluated(f"local.{attr}", "no such local value", expr.pos)
        raise Unevaluated(str(expr), "its value is known only when terraform runs", expr.pos)

    def _named(self, name: str, value: Any, expr: Expr) -> Any:
        if name in self._busy:
            raise Unevaluated(name, "it refers to itself", expr.pos)
        self._busy.add(name)
        try:
            return evaluate(value, self)
        finally:
            self._busy.discard(name)


def _path(expr: Expr) -> tuple[str, list[str]] | None:
    """``var.x.y`` as ("var", ["x", "y"]); None when the chain does not start at a name."""
    node, rest = expr.node, list[str]()
    while node[0] == "attr" and isinstance(node[1], Expr):
        rest.insert(0, node[2])
        node = node[1].node
    return (node[1], rest) if node[0] == "ref" else None


def evaluate(value: Any, scope: Scope) -> Any:
    """The value of ``value`` (a literal, :class:`Expr`, list or map); raises :class:`Unevaluated`."""
    if isinstance(value, Expr):
        try:
            return _node(value, scope)
        except Unevaluated:
            raise
        except (ArithmeticError, LookupError, TypeError, ValueError, StopIteration, RecursionError) as exc:
            raise Unevaluated(str(value), f"evaluating it fails ({type(exc).__name__})", value.pos) from None
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if isinstance(value, dict):
        return {_key(k, scope): evaluate(v, scope) for k, v in value.items()}
    return value


def _key(key: str, scope: Scope) -> str:
    """An object key's string: a written key as it is, an expression key (``(local.k)``,
    ``"x${var.y}"``) evaluated to a string, number or boolean (else :class:`Unevaluated`)."""
    if not isinstance(key, Expr):
        return key
    value = evaluate(key, scope)
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return FUNCTIONS["tostring"](value)  # type: ignore[no-any-return]
    raise Unevaluated(str(key), "an object key must be a string", key.pos)


def _node(expr: Expr, scope: Scope) -> Any:
    node = expr.node
    kind = node[0]
    if kind in ("ref", "attr"):
        found = _path(expr)
        if found is not None:
            name, rest = found
            value = scope.root(name, expr, rest)
            for part in rest:
                value = value[part]
            return value
        return evaluate(node[1], scope)[node[2]]
    if kind == "index":
        base = evaluate(node[1], scope)
        key = evaluate(node[2], scope)
        return base[int(key)] if isinstance(base, list) else base[str(key)]
    if kind == "paren":
        return evaluate(node[1], scope)
    if kind == "unary":
        inner = evaluate(node[2], scope)
        return -inner if node[1] == "-" else not inner
    if kind == "op":
        return _OPS[node[1]](evaluate(node[2], scope), evaluate(node[3], scope))
    if kind == "cond":
        return evaluate(node[2] if evaluate(node[1], scope) else node[3], scope)
    if kind == "template":
        return _template(expr, node[1], scope)
    if kind == "call":
        function = FUNCTIONS.get(node[1])
        if function is None:
            raise Unevaluated(str(expr), f"the function {node[1]}() is not evaluated by iklim check", expr.pos)
        args = [evaluate(a, scope) for a in node[2]]
        if node[3] and args:
            args = args[:-1] + list(args[-1])
        return function(*args)
    if kind == "splat":
        base = evaluate(node[1], scope)
        items = base if isinstance(base, list) else [] if base is None else [base]
        out = []
        for item in items:
            for op, key in node[2]:
                item = item[key] if op == "attr" else item[evaluate(key, scope)]
            out.append(item)
        return out
    if kind == "for":
        return _for(node, scope)
    raise Unevaluated(str(expr), "this expression is not evaluated by iklim check", expr.pos)


def _template(expr: Expr, parts: tuple[Any, ...], scope: Scope) -> Any:
    """A template's string; ``"${x}"`` alone is the value of ``x`` itself (HCL keeps its type)."""
    if len(parts) == 1 and (isinstance(parts[0], Expr) or not isinstance(parts[0], str | tuple)):
        return evaluate(parts[0], scope)
    out = []
    for part in parts:
        if isinstance(part, tuple):
            raise Unevaluated(str(expr), "template directives (%{...}) are not evaluated", expr.pos)
        value = evaluate(part, scope)
        out.append(value if isinstance(value, str) else FUNCTIONS["tostring"](value))
    return "".join(out)


def _for(node: tuple[Any, ...], scope: Scope) -> Any:
    _, key_var, var, collection, key, value, condition, grouping = node
    source = evaluate(collection, scope)
    pairs = list(source.items()) if isinstance(source, dict) else list(enumerate(source))
    if len(pairs) > MAX_ITEMS:
        raise ValueError("too many elements")
    out_list: list[Any] = []
    out_map: dict[str, Any] = {}
    for k, v in pairs:
        inner = scope.bind({var: v, **({key_var: k} if key_var else {})})
        if condition is not None and not evaluate(condition, inner):
            continue
        item = evaluate(value, inner)
        if key is None:
            out_list.append(item)
        elif grouping:
            out_map.setdefault(str(evaluate(key, inner)), []).append(item)
        else:
            out_map[str(evaluate(key, inner))] = item
    return out_list if key is None else out_map
