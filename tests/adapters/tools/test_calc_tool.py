"""The calculator: arithmetic, the allowlist, and attacks refused quickly."""

from __future__ import annotations

import math
import time

import pytest

from loom.adapters.tools import ToolRunner
from loom.adapters.tools.base import ToolError
from loom.adapters.tools.calc import Calculator, evaluate


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 10", 1024),
        ("-2 ** 2", -4),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("+5", 5),
        ("1e3 + 0.5", 1000.5),
        ("sqrt(16) + abs(-2)", 6.0),
        ("floor(2.7) + ceil(2.1)", 5),
        ("round(2.567, 2)", 2.57),
        ("min(3, 1, 2) + max(4, 9)", 10),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("exp(0)", 1.0),
        ("factorial(20)", 2432902008176640000),
        ("comb(52, 5)", 2598960),
        ("gcd(12, 18)", 6),
        ("pow(2, 100)", 2**100),
        ("2 ** 0.5 == sqrt(2)", True),
        ("1 < 2 <= 2 != 3", True),
        ("3 > 4", False),
        ("not 0", True),
    ],
)
def test_arithmetic(expression: str, value: object) -> None:
    assert evaluate(expression) == value


def test_constants_and_trigonometry() -> None:
    assert evaluate("pi") == math.pi
    assert evaluate("e") == math.e
    assert evaluate("sin(pi / 2)") == 1.0
    assert evaluate("cos(0) + tan(0)") == 1.0
    assert evaluate("degrees(pi)") == 180.0


def test_big_integers_are_exact() -> None:
    assert evaluate("2 ** 1000") == 2**1000
    assert evaluate("factorial(1000)") == math.factorial(1000)


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('id')", "attributes"),
        ("().__class__", "attributes"),
        ("().__class__.__bases__[0].__subclasses__()", "attributes"),
        ("(1).__class__", "attributes"),
        ("'a' * 10**9", "only numbers"),
        ("9 ** 9 ** 9", "more than 10000 bits"),
        ("10 ** 100000", "more than 10000 bits"),
        ("(10 ** 3000) * (10 ** 3000)", "more than 10000 bits"),
        ("factorial(10 ** 6)", "limited to n <= 1000"),
        ("factorial(factorial(10))", "limited to n <= 1000"),
        ("comb(10 ** 9, 10 ** 5)", "limited to n <= 10000"),
        ("round(1.5, 10 ** 9)", "digits must be within"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("eval('1')", "unknown function 'eval'"),
        ("x", "unknown name 'x'"),
        ("sqrt", "sqrt is a function"),
        ("pi()", "unknown function 'pi'"),
        ("lambda: 1", "lambdas are not allowed"),
        ("[1, 2][0]", "not allowed"),
        ("[x for x in (1, 2)]", "ListComp is not allowed"),
        ("{1: 2}", "Dict is not allowed"),
        ("1 if 1 else 2", "conditional expressions"),
        ("1 and 2", "and/or"),
        ("1 << 100000", "operator LShift is not supported"),
        ("2 ^ 3", "use ** for powers"),
        ("(-8) ** (1/3)", "complex"),
        ("1j", "only numbers"),
        ("True + 1", "only numbers"),
        ("sqrt(x=4)", "keyword arguments"),
        ("max(*[1, 2])", "not allowed"),
        ("(a := 1)", "NamedExpr is not allowed"),
        ("f'{1}'", "JoinedStr is not allowed"),
        ("1 in (1, 2)", "operator In is not supported"),
        ("-" * 500 + "1", "more than 300 parts"),
        ("(" * 250 + "1" + ")" * 250, "valid expression"),
        ("-(" * 60 + "1" + ")" * 60, "nested more than 40 deep"),
        ("1 +", "not a valid expression"),
        ("", "empty"),
        ("1" * 1001, "longer than 1000 characters"),
    ],
)
def test_attacks_and_unsupported_syntax_are_refused_quickly(
    attack: str, message: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(
        ToolError, match=message.replace("(", r"\(").replace("*", r"\*")
    ):
        evaluate(attack)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("exp(1000)", "too large for a floating-point number"),
        ("factorial(3.5)", "whole number"),
        ("min()", "cannot evaluate"),
    ],
)
def test_math_errors_are_clear(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        evaluate(expression)


async def test_through_the_runner(runner: ToolRunner) -> None:
    ok = await runner.call("calculator", {"expression": " (2 + 3) * 4 "})
    assert ok.text == "(2 + 3) * 4 = 20"
    real = await runner.call("calculator", {"expression": "10 / 4"})
    assert real.text == "10 / 4 = 2.5"
    whole = await runner.call("calculator", {"expression": "sqrt(16)"})
    assert whole.text == "sqrt(16) = 4.0"
    bad = await runner.call("calculator", {"expression": "__import__('os')"})
    assert bad.is_error
    assert bad.text.startswith("error: unknown function '__import__'")


def test_the_schema_lists_the_functions() -> None:
    description = Calculator.spec().parameters["properties"]["expression"][
        "description"
    ]
    assert "sqrt" in description
    assert "factorial" in description
    assert Calculator.kind == "compute"
