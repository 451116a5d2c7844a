"""Tests of reading tool calls from model text and checking them against tools."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from loom.domain.toolcalls import (
    ParsedToolCall,
    TextToolCalls,
    ToolCallProblem,
    ToolSpec,
    parse_text_tool_calls,
    validate_tool_call,
)

CORPUS = Path(__file__).parent.parent / "fixtures" / "model_outputs"
TOOLS = ["read_file", "write_file", "list_dir"]

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=20,
)
_ARGUMENTS = st.dictionaries(st.text(), _JSON, max_size=5)
_NAMES = st.from_regex(r"[a-z_][a-z0-9_.-]{0,30}", fullmatch=True)


def call(name: str, **arguments: object) -> ParsedToolCall:
    return ParsedToolCall(name, arguments)


def _corpus() -> list[Any]:
    records = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        records += [json.loads(line) for line in lines if line.strip()]
    return [pytest.param(record, id=record["id"]) for record in records]


# --- the corpus of real and hand-written model outputs ---------------------


def test_the_corpus_holds_real_and_hand_written_outputs() -> None:
    records = [param.values[0] for param in _corpus()]
    sources = [record["source"] for record in records]
    assert sources.count("generated") == 57
    assert sources.count("hand-written") == 41
    assert all(record["model"] for record in records)


@pytest.mark.parametrize("record", _corpus())
def test_corpus_output_gives_the_labelled_calls(record: dict[str, Any]) -> None:
    parsed = parse_text_tool_calls(record["output"], record["known_tools"])
    got = [{"name": c.name, "arguments": c.arguments} for c in parsed.calls]
    assert got == (record["expected"] or [])
    assert bool(parsed.errors) is record["expect_errors"], parsed.errors


# --- formats ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "calls", "answer"),
    [
        pytest.param(
            'Reading it.\n<tool_call>\n{"name": "read_file", "arguments": '
            '{"path": "README.md"}}\n</tool_call>\nDone.',
            [call("read_file", path="README.md")],
            "Reading it.\nDone.",
            id="hermes",
        ),
        pytest.param(
            '<tool_call>{"name": "a", "arguments": {}}</tool_call>'
            '<tool_call>{"name": "b", "arguments": {"x": [1]}}</tool_call>',
            [call("a"), call("b", x=[1])],
            "",
            id="hermes-twice",
        ),
        pytest.param(
            '<tool_call>\n{"name": "read_file", "arguments": {"path": "a"}}\n'
            "I will wait for the result.",
            [call("read_file", path="a")],
            "I will wait for the result.",
            id="hermes-unclosed-then-prose",
        ),
        pytest.param(
            '<tool_call>{"name": "a", "arguments": {"x": 1}}\n'
            '<tool_call>{"name": "b", "arguments": {}}</tool_call>',
            [call("a", x=1), call("b")],
            "",
            id="hermes-first-unclosed",
        ),
        pytest.param(
            '<TOOL_CALL>{"name": "a", "arguments": {"x": 1}}</TOOL_CALL>',
            [call("a", x=1)],
            "",
            id="hermes-upper-case-tags",
        ),
        pytest.param(
            '<tool_call>{"name": "w", "arguments": {"content": '
            '"a </tool_call> b <tool_call> c"}}</tool_call> after',
            [call("w", content="a </tool_call> b <tool_call> c")],
            "after",
            id="hermes-tags-inside-strings",
        ),
        pytest.param(
            "<tool_call>\n<function=write_file>\n<parameter=path>\nhello.py\n"
            "</parameter>\n<parameter=content>\n\nprint('hi')\n\n</parameter>\n"
            "</function>\n</tool_call>",
            [call("write_file", path="hello.py", content="\nprint('hi')\n")],
            "",
            id="qwen-strips-one-newline-each-side",
        ),
        pytest.param(
            "<function=f>\n<parameter=n>\n2\n</parameter>\n<parameter=flag>\n"
            "false\n</parameter>\n<parameter=none>\nnull\n</parameter>\n"
            '<parameter=list>\n[1, "a"]\n</parameter>\n<parameter=obj>\n'
            '{"k": 1}\n</parameter>\n<parameter=text>\nhello world\n</parameter>\n'
            '<parameter=quoted>\n"kept"\n</parameter>\n</function>',
            [
                call(
                    "f",
                    n=2,
                    flag=False,
                    none=None,
                    list=[1, "a"],
                    obj={"k": 1},
                    text="hello world",
                    quoted='"kept"',
                )
            ],
            "",
            id="qwen-json-literals",
        ),
        pytest.param(
            "<function=f>\n<parameter=a>\n1\n<parameter=b>\ntwo\n</function>",
            [call("f", a=1, b="two")],
            "",
            id="qwen-parameter-ended-by-the-next-tag",
        ),
        pytest.param(
            "<function=f>\n<parameter=a>\nx\n</parameter>",
            [call("f", a="x")],
            "",
            id="qwen-function-unclosed",
        ),
        pytest.param(
            "<function=list_dir></function> and <function=g>\n</function>",
            [call("list_dir"), call("g")],
            "and",
            id="qwen-no-parameters",
        ),
        pytest.param(
            '<function=read_file>{"path": "a.txt",}</function>',
            [call("read_file", path="a.txt")],
            "",
            id="llama-function-json",
        ),
        pytest.param(
            '```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```',
            [call("read_file", path="a")],
            "",
            id="json-fence",
        ),
        pytest.param(
            "```tool_call\n{name: 'list_dir'}\n```",
            [call("list_dir")],
            "",
            id="tool-call-fence-name-only",
        ),
        pytest.param(
            '```json\n{"name": "w", "arguments": {"content": "```py\\nx\\n```"}}\n```',
            [call("w", content="```py\nx\n```")],
            "",
            id="fence-inside-a-string",
        ),
        pytest.param(
            'Calling {"name": "read_file", "parameters": {"path": "a"}} now.',
            [call("read_file", path="a")],
            "Calling now.",
            id="bare-parameters",
        ),
        pytest.param(
            '{"tool": "list_dir", "args": {"path": "src"}}',
            [call("list_dir", path="src")],
            "",
            id="bare-tool-args",
        ),
        pytest.param(
            '{"type": "function", "function": {"name": "read_file", '
            '"arguments": "{\\"path\\": \\"a\\"}"}}',
            [call("read_file", path="a")],
            "",
            id="openai-string-arguments",
        ),
        pytest.param(
            '{"tool_calls": [{"id": "1", "function": {"name": "a", "arguments": ""}}]}',
            [call("a")],
            "",
            id="openai-tool-calls-list",
        ),
        pytest.param(
            '[{"name": "a", "arguments": {}}, {"name": "b", "parameters": {"q": 1}}]',
            [call("a"), call("b", q=1)],
            "",
            id="bare-list",
        ),
        pytest.param(
            '<tool_call>\n{"name": "read_file", "path": "a", "type": "function"}\n'
            "</tool_call>",
            [call("read_file", path="a")],
            "",
            id="hermes-flattened-arguments",
        ),
        pytest.param(
            "Plain answer, no tools.",
            [],
            "Plain answer, no tools.",
            id="plain-text",
        ),
    ],
)
def test_reads_each_format(text: str, calls: list[ParsedToolCall], answer: str) -> None:
    assert parse_text_tool_calls(text) == TextToolCalls(calls, answer, [])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            'Config: {"name": "app", "version": "1.0"}', id="no-arguments-key"
        ),
        pytest.param('{"name": "build", "args": ["--release"]}', id="list-arguments"),
        pytest.param('{"name": "x", "arguments": "not json"}', id="string-not-json"),
        pytest.param(
            '```python\nx = {"name": "read_file", "arguments": {"path": "a"}}\n```',
            id="inside-python-code",
        ),
        pytest.param(
            '{"name": "read_file", "description": "Read", "parameters": '
            '{"type": "object", "properties": {"path": {"type": "string"}}}}',
            id="tool-definition-echo",
        ),
        pytest.param('```json\n{"a": 1}\n```', id="json-fence-without-call"),
        pytest.param("[1] see [the docs](url)", id="brackets-in-prose"),
    ],
)
def test_leaves_ordinary_json_alone(text: str) -> None:
    assert parse_text_tool_calls(text) == TextToolCalls([], text, [])


def test_known_tools_filters_unmarked_json_only() -> None:
    bare = '{"name": "deploy", "arguments": {}}'
    fenced = f"```json\n{bare}\n```"
    tagged = f"<tool_call>{bare}</tool_call>"
    assert parse_text_tool_calls(bare, ["read_file"]).calls == []
    assert parse_text_tool_calls(fenced, ["read_file"]).calls == []
    assert parse_text_tool_calls(tagged, ["read_file"]).calls == [call("deploy")]
    assert parse_text_tool_calls(bare, ["deploy"]).calls == [call("deploy")]


@pytest.mark.parametrize(
    ("text", "reason", "answer"),
    [
        pytest.param(
            '<tool_call>{"name": "a", "arguments": {"p": README.md}}</tool_call>',
            "unquoted text 'README'",
            "",
            id="unquoted-value",
        ),
        pytest.param(
            '<tool_call>{"name": "a", "arguments": {"p": "x}</tool_call> rest',
            "unterminated string",
            "rest",
            id="string-swallows-the-closing-tag",
        ),
        pytest.param(
            '<tool_call>{"name": "a", "arguments": [1]}</tool_call>',
            "'arguments' must be a JSON object, not list",
            "",
            id="list-arguments",
        ),
        pytest.param(
            '<tool_call>{"arguments": {}}</tool_call>',
            "expected a string 'name'",
            "",
            id="no-name",
        ),
        pytest.param("<tool_call>\n</tool_call>", "it is empty", "", id="empty"),
        pytest.param(
            "<tool_call>read_file('a')</tool_call>",
            "no JSON object or array found",
            "",
            id="python-syntax",
        ),
        pytest.param(
            "<function=write_file>\n<parameter=content>\nprint('hel",
            "the parameter 'content' is not closed",
            "",
            id="qwen-cut-off",
        ),
        pytest.param(
            '<tool_call>{"name": "w", "arguments": {"content": "import o',
            "it looks cut off",
            "",
            id="hermes-cut-off-in-a-string",
        ),
        pytest.param(
            '{"name": "a", "arguments": {"x": 1,',
            "it looks cut off",
            "",
            id="bare-cut-off-after-a-comma",
        ),
        pytest.param(
            '{"name": "a", "arguments": {"x": 1 "y": 2}}',
            "expected ',' or '}'",
            '{"name": "a", "arguments": {"x": 1 "y": 2}}',
            id="bare-missing-comma-kept-in-text",
        ),
        pytest.param(
            "list_dir()\n</function>\n</tool_call>",
            "Found </function> without its opening tag",
            "list_dir()",
            id="only-closing-tags",
        ),
    ],
)
def test_reports_markup_it_cannot_read(text: str, reason: str, answer: str) -> None:
    parsed = parse_text_tool_calls(text)
    assert parsed.calls == []
    assert parsed.text == answer
    assert len(parsed.errors) == 1
    assert reason in parsed.errors[0]
    assert '<tool_call>{"name": "TOOL", "arguments": {...}}' in parsed.errors[0]


def test_one_broken_block_does_not_hide_the_good_ones() -> None:
    parsed = parse_text_tool_calls(
        '<tool_call>{"name": "a", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {x: y}}</tool_call>\n'
        '<tool_call>{"name": "c", "arguments": {}}</tool_call>'
    )
    assert parsed.calls == [call("a"), call("c")]
    assert len(parsed.errors) == 1


def test_removed_markup_leaves_tidy_text() -> None:
    parsed = parse_text_tool_calls(
        "First line.\n\n```xml\n<tool_call>\n"
        '{"name": "a", "arguments": {}}\n</tool_call>\n```\n\n\n\nLast within '
        "<tool_call></tool_call> a line."
    )
    assert parsed.text == "First line.\n\nLast within a line."


@pytest.mark.parametrize(
    "frame", ["```json\n{}\n```", "{}", "```tool_call\n{}", "Here:\n{}\nDone."]
)
@pytest.mark.parametrize("marker", ["<TOOL_CALL>", "<tool_call> x", "<function=f>"])
def test_markup_inside_a_json_string_is_data_not_a_call(
    frame: str, marker: str
) -> None:
    payload = json.dumps({"name": "write_file", "arguments": {"content": marker}})
    parsed = parse_text_tool_calls(frame.replace("{}", payload))
    assert parsed.calls == [ParsedToolCall("write_file", {"content": marker})]
    assert parsed.errors == []


def test_a_broken_json_string_does_not_hide_a_real_tag_after_it() -> None:
    parsed = parse_text_tool_calls(
        '{"a": "never closed <tool_call>{"name": "r", "arguments": {}}</tool_call>'
    )
    assert parsed.calls == [ParsedToolCall("r", {})]


@given(_NAMES, _ARGUMENTS)
def test_hermes_wrapped_dumps_come_back_exactly(
    name: str, arguments: dict[str, object]
) -> None:
    payload = json.dumps({"name": name, "arguments": arguments})
    parsed = parse_text_tool_calls(f"<tool_call>\n{payload}\n</tool_call>")
    assert parsed == TextToolCalls([ParsedToolCall(name, arguments)], "", [])


@given(
    _NAMES, _ARGUMENTS, st.sampled_from(["```json\n{}\n```", "{}", "```tool_call\n{}"])
)
def test_fenced_and_bare_dumps_come_back_exactly(
    name: str, arguments: dict[str, object], frame: str
) -> None:
    payload = json.dumps({"name": name, "arguments": arguments}, indent=2)
    # Known limit: a run of backticks inside an unmarked payload reads as a
    # fence boundary (Hermes-wrapped payloads are exempt, see the test above).
    assume("```" not in payload)
    parsed = parse_text_tool_calls(frame.replace("{}", payload))
    assert parsed.calls == [ParsedToolCall(name, arguments)]
    assert parsed.errors == []


@given(_NAMES, _ARGUMENTS, st.data())
def test_a_cut_off_call_never_becomes_another_tool(
    name: str, arguments: dict[str, object], data: st.DataObject
) -> None:
    text = "<tool_call>" + json.dumps({"name": name, "arguments": arguments})
    cut = text[: data.draw(st.integers(0, len(text)))]
    parsed = parse_text_tool_calls(cut)
    assert all(c.name == name for c in parsed.calls)
    assert len(parsed.calls) <= 1


@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    parse_text_tool_calls(text)


# --- validation ---------------------------------------------------------------

READ = ToolSpec(
    name="read_file",
    description="Read a text file.",
    parameters={
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["path"],
        "additionalProperties": False,
    },
)
WRITE = ToolSpec(
    name="write_file",
    description="Write a text file.",
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "content": {"type": "string"},
            "mode": {"enum": ["w", "a"]},
        },
        "required": ["path", "content"],
    },
)
LIST = ToolSpec(
    name="list_dir",
    description="List a directory.",
    parameters={"type": "object", "properties": {}},
)
SPECS = [READ, WRITE, LIST]


def test_a_fitting_call_has_no_problem() -> None:
    assert validate_tool_call(call("read_file", path="a", limit=3.0), SPECS) is None
    assert (
        validate_tool_call(call("write_file", path="a", content="", mode="a"), SPECS)
        is None
    )


def test_unknown_tool_names_the_closest_first() -> None:
    problem = validate_tool_call(call("reed_file"), SPECS)
    assert problem == ToolCallProblem(
        kind="unknown_tool",
        message="Unknown tool 'reed_file'. Did you mean 'read_file'? Valid tools: "
        "read_file, write_file, list_dir. Call one of them by its exact name.",
        valid_tools=("read_file", "write_file", "list_dir"),
    )


@pytest.mark.parametrize(
    ("name", "first"),
    [("list_directory", "list_dir"), ("write", "write_file"), ("ls", "list_dir")],
)
def test_unknown_tool_ranks_by_similarity(name: str, first: str) -> None:
    problem = validate_tool_call(call(name), SPECS)
    assert problem is not None
    assert problem.kind == "unknown_tool"
    assert problem.valid_tools[0] == first
    assert sorted(problem.valid_tools) == sorted(t.name for t in SPECS)


def test_unknown_tool_with_no_close_match_makes_no_guess() -> None:
    problem = validate_tool_call(call("zzzz"), SPECS)
    assert problem is not None
    assert "Did you mean" not in problem.message


def test_no_tools_at_all() -> None:
    problem = validate_tool_call(call("read_file"), [])
    assert problem == ToolCallProblem(
        kind="unknown_tool",
        message="Unknown tool 'read_file': no tools are available; answer in text.",
    )


def test_missing_arguments_are_named_with_the_signature() -> None:
    problem = validate_tool_call(call("write_file", path="a"), SPECS)
    assert problem == ToolCallProblem(
        kind="missing_arguments",
        message="Invalid call to tool 'write_file': missing required argument(s): "
        "content. write_file takes: path (string, required), content (string, "
        'required), mode (one of "w" | "a"). Call it again with corrected arguments.',
        missing=("content",),
    )


def test_missing_and_wrong_arguments_are_reported_together() -> None:
    problem = validate_tool_call(call("write_file", content=5), SPECS)
    assert problem is not None
    assert problem.kind == "missing_arguments"
    assert (problem.missing, problem.invalid) == (("path",), ("content",))
    assert "'content' must be of JSON type string (got integer 5)" in problem.message


@pytest.mark.parametrize(
    ("schema", "value", "complaint"),
    [
        ({"type": "string"}, 5, "must be of JSON type string (got integer 5)"),
        ({"type": "integer"}, 2.5, "must be of JSON type integer (got number 2.5)"),
        ({"type": "integer"}, True, "must be of JSON type integer (got boolean true)"),
        ({"type": "number"}, "1", 'must be of JSON type number (got string "1")'),
        ({"type": "boolean"}, 1, "must be of JSON type boolean (got integer 1)"),
        ({"type": "array"}, {}, "must be of JSON type array (got object {})"),
        ({"type": "object"}, [], "must be of JSON type object (got array [])"),
        ({"type": "null"}, 0, "must be of JSON type null (got integer 0)"),
        (
            {"type": ["string", "null"]},
            1,
            "must be of JSON type string or null (got integer 1)",
        ),
        ({"enum": ["a", "b"]}, "c", 'must be one of ["a", "b"] (got "c")'),
        ({"enum": [1, 2]}, True, "must be one of [1, 2] (got true)"),
    ],
)
def test_wrong_types_name_the_expected_json_type(
    schema: dict[str, object], value: object, complaint: str
) -> None:
    spec = ToolSpec(
        name="t",
        description="",
        parameters={"type": "object", "properties": {"v": schema}},
    )
    problem = validate_tool_call(call("t", v=value), [spec])
    assert problem is not None
    assert problem.kind == "invalid_arguments"
    assert problem.invalid == ("v",)
    assert f"'v' {complaint}" in problem.message


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer"}, 3.0),
        ({"type": "number"}, 3),
        ({"type": ["string", "null"]}, None),
        ({"type": "mystery"}, object()),
        ({"enum": [1, "a"]}, "a"),
        ({}, [1, {"a": 2}]),
    ],
)
def test_right_types_pass(schema: dict[str, object], value: object) -> None:
    spec = ToolSpec(
        name="t",
        description="",
        parameters={"type": "object", "properties": {"v": schema}},
    )
    assert validate_tool_call(call("t", v=value), [spec]) is None


def test_extra_arguments_only_matter_when_forbidden() -> None:
    problem = validate_tool_call(call("read_file", path="a", encoding="utf8"), SPECS)
    assert problem is not None
    assert problem.invalid == ("encoding",)
    assert "'encoding' is not an argument of this tool (allowed: path, limit)" in (
        problem.message
    )
    assert (
        validate_tool_call(call("write_file", path="a", content="", x=1), SPECS) is None
    )


def test_nested_objects_and_array_items_are_checked() -> None:
    item = {
        "type": "object",
        "properties": {"line": {"type": "integer"}},
        "required": ["line"],
    }
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"edits": {"type": "array", "items": item}},
    }
    edits = [{"line": 1}, {"line": "2"}, {}]
    problem = validate_tool_call(
        call("t", edits=edits), [ToolSpec(name="t", description="", parameters=schema)]
    )
    assert problem is not None
    assert problem.invalid == ("edits[1].line", "edits[2].line")
    assert "'edits[2].line' is required" in problem.message


@given(_JSON, _ARGUMENTS)
def test_validation_never_raises_on_odd_schemas(
    schema: object, arguments: dict[str, object]
) -> None:
    spec = ToolSpec(
        name="t",
        description="",
        parameters={"properties": schema, "required": schema, "type": schema},
    )
    validate_tool_call(ParsedToolCall("t", arguments), [spec])
    # ToolSpec validates that parameters is an object; build one that is not,
    # as a hand-written schema could still be, to check validation survives.
    odd = ToolSpec.model_construct(name="t", description="", parameters=schema)  # type: ignore[arg-type]
    validate_tool_call(ParsedToolCall("t", arguments), [odd])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("<function=" * 30_000, id="function-tags"),
        pytest.param("<parameter=" * 30_000, id="parameter-tags"),
        pytest.param("```" * 30_000, id="backticks"),
        pytest.param('<tool_call>{"a": \'x' * 5_000, id="unclosed-strings"),
        pytest.param("{" * 50_000, id="braces"),
    ],
)
def test_pathological_text_is_read_in_linear_time(text: str) -> None:
    # Each of these took minutes when a regex or a rescan went quadratic.
    started = time.perf_counter()
    parse_text_tool_calls(text)
    assert time.perf_counter() - started < 2.0
