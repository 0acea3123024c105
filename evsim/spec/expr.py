"""``${...}`` expressions in specs: arithmetic over named parameters, nothing else.

``"${4*D}"`` evaluates to an int; ``"block${i}"`` interpolates into a string. Only numbers,
parameter names and ``+ - * / // % **`` and parentheses are allowed: a spec cannot run code.
"""
from __future__ import annotations

import ast
import operator
import re

_PATTERN = re.compile(r"\$\{([^}]*)\}")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class ExpressionError(ValueError):
    pass


def _evaluate(node, names):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"unknown parameter '{node.id}' (known: {', '.join(sorted(names)) or 'none'})")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            raise ExpressionError("exponents above 64 are not allowed")
        try:
            return _BINARY[type(node.op)](left, right)
        except (ArithmeticError, TypeError) as err:
            raise ExpressionError(f"cannot compute it: {err}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, names))
    raise ExpressionError("only numbers, parameter names and + - * / // % ** are allowed")


def evaluate(text: str, names: dict):
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ExpressionError(f"cannot parse expression '{text}'") from None
    return _evaluate(tree, names)


def substitute(value, names: dict):
    """Replace ``${expr}`` in strings (recursively through lists and dicts)."""
    if isinstance(value, str):
        whole = _PATTERN.fullmatch(value.strip())
        if whole:
            return evaluate(whole.group(1), names)
        return _PATTERN.sub(lambda m: str(evaluate(m.group(1), names)), value)
    if isinstance(value, list):
        out = type(value)(substitute(v, names) for v in value)
        out.__dict__.update(getattr(value, "__dict__", {}))
        return out
    if isinstance(value, dict):
        out = type(value)()
        out.__dict__.update(getattr(value, "__dict__", {}))
        for key, item in value.items():
            out[key] = substitute(item, names)
        return out
    return value
