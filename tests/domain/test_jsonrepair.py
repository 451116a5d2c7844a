"""Tests of tolerant JSON reading: repairs, refusals, and properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loom.domain.errors import LoomError
from loom.domain.jsonrepair import (
    JsonFailure,
    JsonFound,
    JsonRepairError,
    read_json_at,
    repair_json,
    scan_json,
)

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=20,
)
_DICTS = st.dictionaries(st.text(), _JSON, max_size=5)

# Python's repr of these is a Python literal the repairer must read back:
# printable text only, since repr escapes the rest as \x.. which JSON lacks.
_PRINTABLE = st.text(
    st.characters(codec="utf-8").filter(lambda c: c.isprintable() or c in "\n\t")
)
_PY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _PRINTABLE,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_PRINTABLE, inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1,}', {"a": 1}),
        ("[1, 2, 3,]", [1, 2, 3]),
        ('{"a": [1, {"b": 2,},],}', {"a": [1, {"b": 2}]}),
        ("{'a': 'b', 'c': ['d']}", {"a": "b", "c": ["d"]}),
        ("{'say': 'it\\'s'}", {"say": "it's"}),
        ("{'quote': 'a \"b\" c'}", {"quote": 'a "b" c'}),
        (
            '{path: "x", max_depth: 2, $ref: "y", a-b: 1}',
            {
                "path": "x",
                "max_depth": 2,
                "$ref": "y",
                "a-b": 1,
            },
        ),
        (
            '{"a": "line one\nline two\tand a tab"}',
            {"a": "line one\nline two\tand a tab"},
        ),
        ('{"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),
        ('{"a": 1, "b": {', {"a": 1, "b": {}}),
        ('{"a": 1,', {"a": 1}),
        ('{"path": "README.md', {"path": "README.md"}),
        ('{"content": "print(\'hi\')\nprint(', {"content": "print('hi')\nprint("}),
        ('{"a": True, "b": False, "c": None}', {"a": True, "b": False, "c": None}),
        ('{"a": true, "b": null}', {"a": True, "b": None}),
        ('{"a": 1, // one\n"b": 2}', {"a": 1, "b": 2}),
        ('{/* lead */ "a": /* mid */ 1 /* tail */}', {"a": 1}),
        ('// header\n{"a": 1}\n// footer', {"a": 1}),
        ('Sure! Here it is: {"a": 1}. Hope that helps.', {"a": 1}),
        ('```json\n{"a": 1,}\n```', {"a": 1}),
        ('Here:\n```json\n{"a": [1, 2\n```\nthat is all', {"a": [1, 2]}),
        ("Use {name} here: {'x': 1}", {"x": 1}),
        ('See [1] and [the docs](x) for {"a": 1}', {"a": 1}),
        ("{\u201cname\u201d: \u201cread\u201d}", {"name": "read"}),
        ("{\u2018name\u2019: \u2018read\u2019}", {"name": "read"}),
        ('{"q": "\u201cquoted\u201d inside"}', {"q": "\u201cquoted\u201d inside"}),
        ('{"re": "\\d+\\s"}', {"re": "\\d+\\s"}),
        ('{"e": "\\ud83d\\ude00 \\u00e9",}', {"e": "\U0001f600 \u00e9"}),
        ('{"n": -1.5e3, "i": 0, "z": -0,}', {"n": -1500.0, "i": 0, "z": 0}),
        ("'just a string'", "just a string"),
        ("  \ufeff[1, 2,]  ", [1, 2]),
    ],
)
def test_repairs_what_has_one_reading(text: str, expected: object) -> None:
    assert repair_json(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1}{"b": 2}', "2 separate JSON values"),
        ('first {"a": 1} then {"b": 2}', "2 separate JSON values"),
        ('```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```', "2 separate"),
        ('{"a": 1 "b": 2}', r"expected ',' or '\}'"),
        ('{"path": README.md}', "unquoted text 'README'"),
        ('{"a": }', "unexpected character '}'"),
        ('{"a": ', "expected a value, found the end"),
        ('{"a"', "expected ':'"),
        ("{", "ends before the JSON value does"),
        ('{"a": "x", "b": "swallowed}', "unterminated string"),
        ('{"path": "README.md\u201d}', "unterminated string"),
        ('{"a": 12abc}', "unexpected character '1'"),
        ('{"a": {"b": 1} oops}', r"expected ',' or '\}'"),
        ("[" * 300 + "1", "nested too deeply"),
        ("no json here", "no JSON object or array"),
        ("", "no JSON object or array"),
        ("[see the docs]", "no JSON object or array"),
    ],
)
def test_refuses_to_guess(text: str, reason: str) -> None:
    with pytest.raises(JsonRepairError, match=reason):
        repair_json(text)


def test_repair_error_is_a_loom_error() -> None:
    assert issubclass(JsonRepairError, LoomError)


def test_scan_reports_values_and_broken_json_in_order() -> None:
    text = 'a {"x": 1} b {y} c {"z": 1 oops} d [{"w": 2}]'
    assert scan_json(text) == [
        JsonFound(2, 10, {"x": 1}),
        JsonFailure(19, 27, "expected ',' or '}'"),
        JsonFound(35, 45, [{"w": 2}]),
    ]


def test_scan_never_offers_the_inside_of_broken_json() -> None:
    results = scan_json('{"outer": {"inner": 1} broken}')
    assert [type(r) for r in results] == [JsonFailure]


def test_read_json_at_reads_past_markup_inside_strings() -> None:
    text = 'x {"a": "</tool_call>"} tail'
    assert read_json_at(text, 2) == JsonFound(2, 23, {"a": "</tool_call>"})
    assert read_json_at(text, 0) == JsonFailure(
        0, 0, "unquoted text 'x' (strings need quotes)"
    )


@given(_DICTS)
def test_valid_json_round_trips(value: dict[str, object]) -> None:
    assert repair_json(json.dumps(value)) == value


@given(_DICTS)
def test_the_tolerant_parser_agrees_with_json_on_valid_json(
    value: dict[str, object],
) -> None:
    # repair_json tries json.loads first; scan_json goes through the tolerant
    # parser alone, so this pins it to the real grammar.
    text = json.dumps(value, indent=1, ensure_ascii=False)
    assert scan_json(text) == [JsonFound(0, len(text), value)]


@given(st.dictionaries(_PRINTABLE, _PY_JSON, max_size=5))
def test_python_literals_read_back(value: dict[str, object]) -> None:
    assert repair_json(repr(value)) == value


@given(_DICTS)
def test_trailing_commas_are_dropped(value: dict[str, object]) -> None:
    assert repair_json(_dumps_with_trailing_commas(value)) == value


@given(_DICTS.filter(bool))
def test_prose_and_fences_around_one_object_are_ignored(
    value: dict[str, object],
) -> None:
    text = f"Here you go:\n```json\n{json.dumps(value)}\n```\nAnything else?"
    assert repair_json(text) == value


def _dumps_with_trailing_commas(value: object) -> str:
    if isinstance(value, dict) and value:
        members = "".join(
            f"{json.dumps(k)}: {_dumps_with_trailing_commas(v)}, "
            for k, v in value.items()
        )
        return "{" + members + "}"
    if isinstance(value, list) and value:
        return "[" + "".join(f"{_dumps_with_trailing_commas(v)}, " for v in value) + "]"
    return json.dumps(value)
