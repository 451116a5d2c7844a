"""A calculator that evaluates arithmetic safely, without ``eval``.

The expression is parsed with :mod:`ast` and walked by hand: only numbers,
arithmetic, comparisons and an allowlist of math functions and constants are
understood, so names, attributes, subscripts, strings, lambdas and the like
are errors before anything runs. Sizes are checked *before* each operation
(exponent, product, factorial), so ``9**9**9`` is refused instantly rather than
computed.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from pydantic import Field

from loom.adapters.tools.base import Tool, ToolArgs, ToolContext, ToolError

__all__ = ["Calculator", "evaluate"]

Number = int | float
_MAX_CHARS = 1000
_MAX_NODES = 300
_MAX_DEPTH = 40
_MAX_BITS = 10_000  # about 3,000 decimal digits
_MAX_FACTORIAL = 1000
_MAX_COMB = 10_000
_MAX_ROUND_DIGITS = 100

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_CONSTANTS: dict[str, Number] = {
    "pi": math.pi,
    "e": math.e,
    "tau": math.tau,
    "inf": math.inf,
}


def _factorial(n: Number) -> int:
    _check_int_argument("factorial", n, _MAX_FACTORIAL)
    return math.factorial(int(n))


def _comb(n: Number, k: Number) -> int:
    _check_int_argument("comb", n, _MAX_COMB)
    return math.comb(int(n), int(k))


def _perm(n: Number, k: Number | None = None) -> int:
    _check_int_argument("perm", n, _MAX_COMB)
    return math.perm(int(n), None if k is None else int(k))


def _round(x: Number, digits: int | None = None) -> Number:
    if digits is not None and abs(digits) > _MAX_ROUND_DIGITS:
        raise ToolError(f"round: digits must be within ±{_MAX_ROUND_DIGITS}")
    return round(x, digits)


def _log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "cbrt": math.cbrt,
    "exp": math.exp,
    "log": _log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "atan2": math.atan2,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "hypot": math.hypot,
    "degrees": math.degrees,
    "radians": math.radians,
    "floor": math.floor,
    "ceil": math.ceil,
    "trunc": math.trunc,
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
    "gcd": math.gcd,
    "lcm": math.lcm,
    "factorial": _factorial,
    "comb": _comb,
    "perm": _perm,
    "pow": lambda x, y: _power(x, y),
}


class CalculatorArgs(ToolArgs):
    expression: str = Field(
        description=(
            "Arithmetic in Python syntax, e.g. 'sqrt(2) * (3 + 4) ** 2'. Operators "
            "+ - * / // % ** and comparisons; functions "
            + ", ".join(sorted(_FUNCTIONS))
            + "; constants "
            + ", ".join(sorted(_CONSTANTS))
            + "."
        )
    )


class Calculator(Tool):
    name = "calculator"
    description = (
        "Evaluate an arithmetic expression exactly (big integers) or in floating "
        "point. Use it instead of doing arithmetic in your head."
    )
    kind = "compute"
    Args = CalculatorArgs

    async def run(self, args: CalculatorArgs, ctx: ToolContext) -> str:
        expression = args.expression.strip()
        return f"{expression} = {_format(evaluate(expression))}"


def evaluate(expression: str) -> Number:
    """The value of ``expression``; ``ToolError`` for anything not allowed."""
    tree = _parse(expression)
    try:
        return _Evaluator().visit(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large for a floating-point number") from None
    except (ValueError, TypeError) as error:
        raise ToolError(f"cannot evaluate: {error}") from None


def _parse(expression: str) -> ast.Expression:
    if not expression:
        raise ToolError("the expression is empty")
    if len(expression) > _MAX_CHARS:
        raise ToolError(f"the expression is longer than {_MAX_CHARS} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        detail = getattr(error, "msg", None) or str(error) or type(error).__name__
        raise ToolError(f"not a valid expression: {detail}") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise ToolError(f"the expression has more than {_MAX_NODES} parts")
    return tree


class _Evaluator:
    """Evaluates the allowed node types; every other node is an error."""

    def __init__(self) -> None:
        self.depth = 0

    def visit(self, node: ast.AST) -> Number:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise ToolError(f"the expression is nested more than {_MAX_DEPTH} deep")
            method = getattr(self, f"visit_{type(node).__name__}", None)
            if method is None:
                raise ToolError(_not_allowed(node))
            return _checked(method(node))
        finally:
            self.depth -= 1

    def visit_Constant(self, node: ast.Constant) -> Number:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolError(f"only numbers are allowed, not {value!r}")
        return _checked(value)

    def visit_Name(self, node: ast.Name) -> Number:
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise ToolError(f"{node.id} is a function; call it like {node.id}(x)")
        raise ToolError(
            f"unknown name {node.id!r}; constants are {', '.join(_CONSTANTS)}"
        )

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Number:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ToolError(_not_allowed(node.op))
        return _checked(op(self.visit(node.operand)))

    def visit_BinOp(self, node: ast.BinOp) -> Number:
        if isinstance(node.op, ast.BitXor):
            raise ToolError("^ is bitwise xor in this syntax; use ** for powers")
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ToolError(_not_allowed(node.op))
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if isinstance(node.op, ast.Mult):
            _check_product(left, right)
        return _checked(op(left, right))

    def visit_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise ToolError(_not_allowed(op_node))
            right = self.visit(right_node)
            if not op(left, right):
                return False
            left = right
        return True

    def visit_Call(self, node: ast.Call) -> Number:
        if not isinstance(node.func, ast.Name):
            raise ToolError(_not_allowed(node.func))
        if node.func.id not in _FUNCTIONS:
            known = ", ".join(_FUNCTIONS)
            raise ToolError(f"unknown function {node.func.id!r}; functions are {known}")
        if node.keywords:
            raise ToolError("keyword arguments are not supported")
        arguments = [self.visit(argument) for argument in node.args]
        return _checked(_FUNCTIONS[node.func.id](*arguments))


def _not_allowed(node: ast.AST) -> str:
    kind = type(node).__name__
    hints = {
        "Attribute": "attributes (x.y) are not allowed",
        "Subscript": "indexing (x[i]) is not allowed",
        "Lambda": "lambdas are not allowed",
        "Starred": "*args are not allowed",
        "BoolOp": "and/or are not supported; use comparisons",
        "IfExp": "conditional expressions are not supported",
    }
    if kind in hints:
        return hints[kind]
    if isinstance(node, ast.operator | ast.unaryop | ast.cmpop):
        return f"the operator {kind} is not supported"
    return f"{kind} is not allowed in a calculator expression"


def _bits(value: Number) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _checked(value: object) -> Number:
    """``value`` when it is a real number of allowed size (bools are ints)."""
    if isinstance(value, complex):
        raise ToolError("the result is a complex number, which is not supported")
    if not isinstance(value, int | float):
        raise ToolError(f"the result is not a number: {value!r}")
    if isinstance(value, int) and _bits(value) > _MAX_BITS:
        raise ToolError(f"the result has more than {_MAX_BITS} bits; refusing")
    return value


def _check_product(left: Number, right: Number) -> None:
    if _bits(left) + _bits(right) > _MAX_BITS + 1:
        raise ToolError(f"the product would have more than {_MAX_BITS} bits; refusing")


def _power(base: Number, exponent: Number) -> Number:
    # A negative exponent gives a float, which cannot grow past the bit limit.
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
        bits = (
            exponent * math.log2(abs(base)) if exponent.bit_length() < 64 else math.inf
        )
        if exponent > 0 and bits > _MAX_BITS:
            raise ToolError(
                f"the power would have more than {_MAX_BITS} bits; refusing"
            )
    return _checked(pow(base, exponent))


def _check_int_argument(name: str, n: Number, limit: int) -> None:
    if isinstance(n, float) and not n.is_integer():
        raise ToolError(f"{name} needs a whole number, not {n}")
    if abs(n) > limit:
        raise ToolError(f"{name} is limited to n <= {limit}")


def _format(value: Number) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    return repr(value) if isinstance(value, float) else str(value)
