"""``${...}`` expressions in specs: arithmetic over named parameters, nothing else.

``"${4*D}"`` evaluates to an int; ``"block${i}"`` interpolates into a string. Only numbers,
parameter names and ``+ - * / // % **`` and parentheses are allowed: a spec cannot run code.

Bounded, so that no spec can hang or exhaust the reader: an expression is at most
``MAX_LENGTH`` characters, every value it computes is a finite float or an int of at most
``MAX_INT`` in magnitude (checked before a power is computed), arithmetic takes numbers only
(never strings), and the work of substituting a whole spec is counted by the reader.
"""
from __future__ import annotations

import ast
import math
import operator
import re

_PATTERN = re.compile(r"\$\{([^}]*)\}")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


MAX_LENGTH = 500
MAX_INT = 2**53  # every int a float holds exactly; far beyond any width, depth or count


class ExpressionError(ValueError):
    pass


def _bounded(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ExpressionError(f"an integer beyond ±2**53 ({str(value)[:20]}…)" if abs(value) > 10**20
                                  else f"the integer {value} is beyond ±2**53")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"the result is {value}, not a finite number")
        return value
    raise ExpressionError(f"the result {value!r:.40} is not a real number")


def _number(value):
    if isinstance(value, (int, float)):
        return value
    raise ExpressionError(f"arithmetic needs numbers, got {type(value).__name__} {value!r:.40}")


def _power(left, right):
    """left ** right, refused before computing if the result would be out of bounds."""
    if abs(right) > 64:
        raise ExpressionError("exponents above 64 are not allowed")
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1 \
            and right * math.log2(abs(left)) > 54:
        raise ExpressionError(f"{left} ** {right} is beyond ±2**53")
    if left == 0 and right < 0:
        raise ExpressionError("cannot compute it: zero to a negative power")
    return left ** right


def _evaluate(node, names):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, complex):
        return _bounded(node.value)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"unknown parameter '{node.id}' (known: {', '.join(sorted(names)) or 'none'})")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _number(_evaluate(node.left, names)), _number(_evaluate(node.right, names))
        operation = _power if isinstance(node.op, ast.Pow) else _BINARY[type(node.op)]
        try:
            return _bounded(operation(left, right))
        except (ArithmeticError, TypeError, ValueError) as err:
            if isinstance(err, ExpressionError):
                raise
            raise ExpressionError(f"cannot compute it: {err}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _bounded(_UNARY[type(node.op)](_number(_evaluate(node.operand, names))))
    raise ExpressionError("only numbers, parameter names and + - * / // % ** are allowed")


def evaluate(text: str, names: dict):
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"an expression of {len(text)} characters (at most {MAX_LENGTH})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExpressionError(f"cannot parse expression '{text[:60]}'") from None
    try:
        return _evaluate(tree, names)
    except RecursionError:
        raise ExpressionError("the expression nests too deeply") from None


def names_used(value) -> set:
    """Every name the ``${...}`` expressions in ``value`` read (recursively through lists and dicts)."""
    found = set()
    if isinstance(value, str):
        for match in _PATTERN.finditer(value):
            try:
                tree = ast.parse(match.group(1).strip()[:MAX_LENGTH + 1], mode="eval")
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            found |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    elif isinstance(value, list):
        for item in value:
            found |= names_used(item)
    elif isinstance(value, dict):
        for item in value.values():
            found |= names_used(item)
    return found


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
