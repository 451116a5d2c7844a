"""Given a real source file and a drifted edit, apply_edit writes what was meant.

The corpus is built at collection time from real text: stdlib modules read with
``inspect.getsource`` and two small files in ``tests/fixtures/edits``. For each
source, regions that a careful reader would call unmistakable are picked; each
gets a realistic change (a line inserted, the last line changed) and ``old`` is
drifted the ways local models drift it. Every positive case asserts the exact
expected file; every negative case asserts that nothing is applied.
"""

from __future__ import annotations

import argparse
import inspect
import json.decoder
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import Indel

from loom.domain.editing import EditError, apply_edit
from loom.domain.errors import LoomError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "edits"

SOURCES: dict[str, str] = {
    "textwrap": inspect.getsource(textwrap),
    "json.decoder": inspect.getsource(json.decoder),
    "argparse": inspect.getsource(argparse),
    "cart.js": (FIXTURES / "cart.js").read_text(),
    "server.go": (FIXTURES / "server.go").read_text(),
}
COMMENT = {"cart.js": "//", "server.go": "//"}

Drift = Callable[[str], str]


# --- drifts: what local models do to the text they quote ---------------------


def _map_lines(text: str, change: Callable[[str], str]) -> str:
    return "".join(
        change(line) if line.strip() else line for line in text.splitlines(True)
    )


def shift(columns: int) -> Drift:
    def drift(text: str) -> str:
        if columns > 0:
            return _map_lines(text, lambda line: " " * columns + line)
        return _map_lines(text, lambda line: line[-columns:])

    return drift


def tabs_for(unit: int) -> Drift:
    def drift(text: str) -> str:
        def one(line: str) -> str:
            body = line.lstrip(" ")
            width = len(line) - len(body)
            return "\t" * (width // unit) + " " * (width % unit) + body

        return _map_lines(text, one)

    return drift


def spaces_for_tabs(text: str) -> str:
    return _map_lines(text, lambda line: line.expandtabs(4))


def trailing_spaces(text: str) -> str:
    lines = text.splitlines(True)
    return "".join(
        line.rstrip("\n") + "  \n" if i % 2 == 0 else line
        for i, line in enumerate(lines)
    )


def blank_added(text: str) -> str:
    lines = text.splitlines(True)
    return "".join([lines[0], "\n", *lines[1:]])


def blank_dropped(text: str) -> str:
    lines = text.splitlines(True)
    inner = next(i for i in range(1, len(lines) - 1) if not lines[i].strip())
    return "".join(lines[:inner] + lines[inner + 1 :])


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def typo(text: str) -> str:
    """One substituted letter in the middle of the longest line but the last."""
    lines = text.splitlines(True)
    lettered = [i for i in range(len(lines) - 1) if any(map(str.isalpha, lines[i]))]
    if not lettered:
        return text
    row = max(lettered, key=lambda i: len(lines[i].strip()))
    line = lines[row]
    columns = [c for c, char in enumerate(line) if char.isalpha()]
    column = next((c for c in columns if c >= len(line) // 2), columns[-1])
    swapped = "q" if line[column] != "q" else "z"
    lines[row] = line[:column] + swapped + line[column + 1 :]
    return "".join(lines)


def first_line_unindented(text: str) -> str:
    """As copied from the first word of the first line."""
    return text.lstrip(" \t")


def elided(marker: str) -> Drift:
    def drift(text: str) -> str:
        lines = text.splitlines(True)
        indent = lines[2][: len(lines[2]) - len(lines[2].lstrip())]
        return "".join([*lines[:2], f"{indent}{marker}\n", *lines[-2:]])

    return drift


def chain(*drifts: Drift) -> Drift:
    def drift(text: str) -> str:
        for one in drifts:
            text = one(text)
        return text

    return drift


# --- regions and their edits ---------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """A change to an unmistakable region of a real file."""

    name: str
    text: str
    region: str
    new: str
    first_line: int

    @property
    def expected(self) -> str:
        assert self.text.count(self.region) == 1
        return self.text.replace(self.region, self.new)


def _key(line: str) -> str:
    return "".join(line.split())


def _distinctive(keys: list[str], start: int, size: int) -> bool:
    """Whether a long line of the region is unlike every other line of the file."""
    others = keys[:start] + keys[start + size :]
    for key in keys[start : start + size]:
        if len(key) >= 20:
            nearest = process.extractOne(key, others, scorer=Indel.distance)
            if nearest is not None and nearest[1] >= 12:
                return True
    return False


def _fits(lines: list[str], start: int, size: int, text: str) -> bool:
    region = lines[start : start + size]
    inner = region[2:-2]
    return (
        all(line.strip() for line in (region[0], region[1], region[-2], region[-1]))
        and any(line.startswith((" ", "\t")) for line in region)
        and sum(len(_key(line)) for line in region) >= 80
        and all(len(_key(line)) >= 4 for line in (region[0], region[-1]))
        and not any(line.lstrip().startswith(('"""', "'''")) for line in region)
        and any(line.strip() for line in inner)
        and text.count("".join(region)) == 1
    )


def regions(name: str, count: int, size: int, *, blank: bool = False) -> list[Edit]:
    """``count`` distinct, distinctive regions of ``size`` lines, spread out."""
    text = SOURCES[name]
    lines = text.splitlines(True)
    keys = [_key(line) for line in lines]
    found: list[Edit] = []
    step = max(1, len(lines) // (count * 2))
    start = step // 2
    while start < len(lines) - size and len(found) < count:
        has_blank = any(not line.strip() for line in lines[start : start + size])
        fits = has_blank == blank and _fits(lines, start, size, text)
        if fits and _distinctive(keys, start, size):
            region = "".join(lines[start : start + size])
            found.append(Edit(name, text, region, _changed(name, region), start))
            start += step
            continue
        start += 1
    assert len(found) == count, f"{name}: only {len(found)} regions of {size}"
    return found


def _changed(name: str, region: str) -> str:
    """The region with a line inserted after its first and its last line changed."""
    lines = region.splitlines(True)
    comment = COMMENT.get(name, "#")
    body = lines[1]
    indent = body[: len(body) - len(body.lstrip())]
    inserted = f"{indent}{comment} checked by the model\n"
    last = lines[-1].rstrip("\n") + f"  {comment} changed\n"
    return "".join([lines[0], inserted, *lines[1:-1], last])


# --- the drifted corpus --------------------------------------------------------

PYTHON = ("textwrap", "json.decoder", "argparse")
SAME = object()

# name -> (drift of old, drift of new: SAME as old, or None for a clean new)
DRIFTS: dict[str, tuple[Drift, Drift | object | None]] = {
    "dedent-4": (shift(-4), SAME),
    "indent+4": (shift(4), SAME),
    "indent+4-new-clean": (shift(4), None),
    "dedent-fully": (textwrap.dedent, SAME),
    "trailing-spaces": (trailing_spaces, None),
    "trailing-spaces-both": (trailing_spaces, SAME),
    "blank-line-added": (blank_added, None),
    "blank-line-leading": (lambda text: "\n" + text, None),
    "blank-line-trailing": (lambda text: text + "\n", None),
    "blank-lines-both-edges": (lambda text: "\n" + text + "\n", SAME),
    "crlf-old": (crlf, None),
    "crlf-old-and-new": (crlf, SAME),
    "typo": (typo, None),
    "first-line-unindented+indent+4": (chain(first_line_unindented, shift(4)), SAME),
    "first-line-unindented+trailing": (
        chain(first_line_unindented, trailing_spaces),
        first_line_unindented,
    ),
    "elided-dots": (elided("..."), None),
    "dedent-4+typo+blank": (chain(shift(-4), typo, blank_added), shift(-4)),
    "crlf+trailing+dedent": (chain(textwrap.dedent, trailing_spaces, crlf), SAME),
}
PYTHON_DRIFTS: dict[str, tuple[Drift, Drift | object | None]] = {
    "tabs": (tabs_for(4), SAME),
    "tabs-new-clean": (tabs_for(4), None),
    "elided-hash": (elided("# ..."), None),
    "elided-words": (elided("# ... existing code ..."), None),
    "tabs+typo": (chain(tabs_for(4), typo), tabs_for(4)),
}
JS_DRIFTS: dict[str, tuple[Drift, Drift | object | None]] = {
    "tabs": (tabs_for(2), SAME),
    "elided-slashes": (elided("// ..."), None),
    "dedent-2": (shift(-2), SAME),
}
GO_DRIFTS: dict[str, tuple[Drift, Drift | object | None]] = {
    "spaces-for-tabs": (spaces_for_tabs, SAME),
    "spaces-for-tabs-new-clean": (spaces_for_tabs, None),
    "elided-slashes": (elided("// ... rest unchanged ..."), None),
}


def _min_indent(region: str) -> int:
    return min(
        len(line) - len(line.lstrip(" "))
        for line in region.splitlines()
        if line.strip()
    )


def _cases() -> list[object]:
    edits = {name: regions(name, 4, 7) for name in PYTHON}
    edits["cart.js"] = regions("cart.js", 3, 6)
    edits["server.go"] = regions("server.go", 3, 6)
    kinds = {name: {**DRIFTS, **PYTHON_DRIFTS} for name in PYTHON}
    kinds["cart.js"] = {**DRIFTS, **JS_DRIFTS}
    kinds["server.go"] = {**DRIFTS, **GO_DRIFTS}
    cases: list[object] = []
    for name, found in edits.items():
        for edit in found:
            for kind, (drift_old, drift_new) in kinds[name].items():
                needs = 4 if "dedent-4" in kind else 1
                if "dedent" in kind and _min_indent(edit.region) < needs:
                    continue
                if name == "server.go" and kind.startswith(("dedent", "indent")):
                    continue
                # An old with a blank line the file really has there is exact:
                # new without it then deletes it, as asked.
                as_lines = "\n" + drift_old(edit.region)
                if kind.startswith("blank-line") and as_lines in "\n" + edit.text:
                    continue
                case_id = f"{name}:{edit.first_line + 1}:{kind}"
                cases.append(pytest.param(edit, drift_old, drift_new, id=case_id))
    return cases


@pytest.mark.parametrize(("edit", "drift_old", "drift_new"), _cases())
def test_drifted_edit_lands_exactly(
    edit: Edit, drift_old: Drift, drift_new: Drift | object | None
) -> None:
    old = drift_old(edit.region)
    if drift_new is SAME:
        new = drift_old(edit.new)
    elif drift_new is None:
        new = edit.new
    else:
        assert callable(drift_new)
        new = drift_new(edit.new)
    assert old != edit.region
    assert apply_edit(edit.text, old, new) == edit.expected


# --- whole-file conditions: line endings, final newline, blank lines ----------


@pytest.mark.parametrize("edit", regions("argparse", 2, 7), ids=lambda e: e.name)
def test_crlf_file_keeps_crlf_when_old_and_new_are_lf(edit: Edit) -> None:
    text, region, new = crlf(edit.text), edit.region, edit.new
    result = apply_edit(text, shift(4)(region), shift(4)(new))
    assert result == crlf(edit.expected)


@pytest.mark.parametrize("name", PYTHON)
def test_file_without_final_newline_stays_without(name: str) -> None:
    text = SOURCES[name].rstrip("\n")
    lines = text.splitlines(True)
    region = "".join(lines[-3:])
    new = region.replace("\n", "  # changed\n") + "  # changed"
    result = apply_edit(text, region + "\n", new + "\n")
    assert result == text[: -len(region)] + new
    assert not result.endswith("\n")


@pytest.mark.parametrize("edit", regions("textwrap", 3, 8, blank=True))
def test_dropped_blank_line_still_matches(edit: Edit) -> None:
    old = blank_dropped(edit.region)
    if not edit.region.splitlines()[1].strip():
        pytest.skip("the blank line is where the change goes")
    assert apply_edit(edit.text, shift(-4)(old), shift(-4)(edit.new)) == edit.expected


@pytest.mark.parametrize(
    "edit", [*regions("json.decoder", 3, 7), *regions("cart.js", 2, 6)]
)
def test_marker_in_new_keeps_the_elided_lines(edit: Edit) -> None:
    comment = COMMENT.get(edit.name, "#")
    old = elided(f"{comment} ...")(edit.region)
    new = _changed(edit.name, old)
    assert apply_edit(edit.text, old, new) == edit.expected


# --- worked examples -----------------------------------------------------------

CLASS = """\
class Account:
    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.balance += amount
        return self.balance

    def withdraw(self, amount):
        if amount > self.balance:
            return None
        self.balance -= amount
        return self.balance
"""


def test_exact_unique_match_is_replaced_as_is() -> None:
    result = apply_edit(CLASS, "self.balance -= amount", "self.balance -= amount + 1")
    assert result == CLASS.replace("-= amount", "-= amount + 1")


def test_exact_match_writes_new_with_crlf_in_a_crlf_file() -> None:
    text = crlf(CLASS)
    result = apply_edit(text, "return None", "log()\n            return None")
    assert result == crlf(
        CLASS.replace("return None", "log()\n            return None")
    )


def test_new_is_reindented_by_the_drift_and_keeps_its_own_nesting() -> None:
    old = "if amount > self.balance:\n    return None\nself.balance -= amount\n"
    new = old.replace(
        "    return", "    if strict:\n        raise Overdrawn()\n    return"
    )
    expected = CLASS.replace(
        "            return None\n",
        "            if strict:\n                raise Overdrawn()\n"
        "            return None\n",
    )
    assert apply_edit(CLASS, old, new) == expected


def test_tabs_in_old_become_the_files_spaces() -> None:
    old = "\tdef withdraw(self, amount):\n\t\tif amount > self.balance:\n"
    new = "\tdef withdraw(self, amount, fee=0):\n\t\tif amount + fee > self.balance:\n"
    result = apply_edit(CLASS, old, new)
    assert "    def withdraw(self, amount, fee=0):\n" in result
    assert "        if amount + fee > self.balance:\n" in result


def test_elision_ends_at_the_block_s_own_last_line_not_a_deeper_one() -> None:
    text = CLASS.replace("            return None", "            return self.balance")
    old = "    def withdraw(self, amount):\n        ...\n        return self.balance\n"
    new = "    def withdraw(self, amount):\n        return 0\n"
    expected = text.split("    def withdraw")[0] + new
    assert apply_edit(text, old, new) == expected


def test_typo_repeated_in_new_is_not_written_to_the_file() -> None:
    old = (
        "        if amount <= 0:\n"
        '            raise ValueError("amount must be postive")\n'
    )
    new = old + "        audit(amount)\n"
    result = apply_edit(CLASS, old, new)
    assert result == CLASS.replace(
        '"amount must be positive")\n',
        '"amount must be positive")\n        audit(amount)\n',
    )


def test_literal_ellipsis_line_is_matched_as_code_first() -> None:
    text = (
        "class P(Protocol):\n    def run(self) -> int:\n        ...\n\n"
        "    def stop(self) -> None:\n        ...\n"
    )
    old = "def run(self) -> int:\n    ...\n"
    new = "def run(self) -> str:\n    ...\n"
    assert apply_edit(text, old, new) == text.replace("-> int", "-> str")


def test_elision_whose_end_recurs_in_the_same_block_is_refused() -> None:
    text = "def f(x):\n    log(x)\n    x += 1\n    log(x)\n    x += 1\n    return x\n"
    with pytest.raises(EditError, match=r"lines 1-3 and lines 1-5"):
        apply_edit(text, "def f(x):\n    ...\n    x += 1\n", "def f(x):\n")


def test_a_marker_stands_for_at_least_one_line() -> None:
    text = "def f(x):\n    x += 1\n    log(x)\n    x += 1\n    return x\n"
    result = apply_edit(text, "def f(x):\n    ...\n    x += 1\n", "def f(x):\n")
    assert result == "def f(x):\n    return x\n"


def test_literal_dots_in_new_are_kept_when_new_spells_out_the_middle() -> None:
    text = "def f():\n    a = 1\n    b = 2\n    c = 3\n    return a\n"
    old = "def f():\n    ...\n    return a\n"
    new = "def f():\n    a = 1\n    b = 2\n    ...\n    return a\n"
    assert apply_edit(text, old, new) == new


def test_only_the_first_line_unindented_and_the_rest_shifted() -> None:
    old = "if amount > self.balance:  \n        return None\n"
    new = "if amount >= self.balance:\n        return None\n"
    assert apply_edit(CLASS, old, new) == CLASS.replace("> self", ">= self")


def test_empty_new_deletes_the_lines() -> None:
    old = "  if amount > self.balance:\n      return None\n"
    assert apply_edit(CLASS, old, "") == CLASS.replace(
        "        if amount > self.balance:\n            return None\n", ""
    )


# --- refusals: nothing is applied ----------------------------------------------

TWINS = """\
def total_price(items):
    total = 0
    for item in items:
        total += item.price * item.quantity
    return round(total, 2)


def total_weight(items):
    total = 0
    for item in items:
        total += item.weight * item.quantity
    return round(total, 2)
"""


def test_empty_old_is_refused() -> None:
    with pytest.raises(EditError, match="write_file"):
        apply_edit(CLASS, "", "x = 1\n")
    with pytest.raises(EditError, match="old is empty"):
        apply_edit(CLASS, "  \n\t\n", "x = 1\n")


def test_identical_old_and_new_is_refused() -> None:
    with pytest.raises(EditError, match="no change"):
        apply_edit(CLASS, "return None", "return None")


def test_edit_errors_are_loom_errors() -> None:
    assert issubclass(EditError, LoomError)


def test_exact_duplicate_names_both_places() -> None:
    old = "    total = 0\n    for item in items:\n"
    with pytest.raises(EditError) as raised:
        apply_edit(TWINS, old, "    total = 0.0\n    for item in items:\n")
    assert "(lines 2-3 and lines 9-10)" in str(raised.value)
    assert "more of the unchanged lines" in str(raised.value)
    assert raised.value.ranges == ((2, 3), (9, 10))


def test_drifted_duplicate_names_both_places() -> None:
    old = "total = 0\nfor item in items:  \n"
    with pytest.raises(EditError, match=r"lines 2-3 and lines 9-10"):
        apply_edit(TWINS, old, "total = 1\nfor item in items:\n")


@pytest.mark.parametrize(
    "old",
    [
        # a typo that makes the price line as close to the weight line
        "total += item.pqice * item.quantity\nreturn round(total, 2)\n",
        # closer to the weight function than to the price one it came from
        "total += item.peight * item.quantity\nreturn round(total, 2)\n",
        # equally far from both
        "total += item.height * item.quantity\nreturn round(total, 2)\n",
    ],
)
def test_old_about_as_close_to_another_region_is_refused(old: str) -> None:
    with pytest.raises(
        EditError, match=r"lines 4-5 and lines 11-12|lines 11-12 and lines 4-5"
    ):
        apply_edit(TWINS, old, "pass\n")


def test_clearly_closer_region_wins_over_its_near_twin() -> None:
    old = "total += item.weight * item.quantity\nreturn round(total, 2)\n"
    new = "total += item.weight * item.count\nreturn round(total, 2)\n"
    result = apply_edit(TWINS, old, new)
    assert result == TWINS.replace(
        "item.weight * item.quantity", "item.weight * item.count"
    )


def test_unrelated_old_shows_the_closest_region_and_says_reread() -> None:
    old = "def total_volume(items):\n    return sum(i.volume for i in items)\n"
    with pytest.raises(EditError) as raised:
        apply_edit(TWINS, old, "pass\n")
    message = str(raised.value)
    assert "nothing was changed" in message
    assert "re-read the file" in message
    assert (
        "lines 1-2:\n   1 | def total_price(items):\n   2 |     total = 0\n" in message
    )
    assert raised.value.ranges == ((1, 2),)


def test_line_of_old_found_verbatim_elsewhere_is_no_typo() -> None:
    text = "def f():\n    return 0\n\n\ndef g():\n    return 1\n"
    with pytest.raises(EditError, match="lines 1-2 and lines 5-6"):
        apply_edit(text, "def f():\n    return 1\n", "def f():\n    return 2\n")


def test_short_old_with_a_typo_is_refused() -> None:
    with pytest.raises(EditError, match="closely enough"):
        apply_edit(CLASS, "return Nome", "return 0")


def test_old_missing_the_start_of_a_line_is_refused() -> None:
    text = "value = compute(alpha, beta)\nother = 1\n"
    with pytest.raises(EditError):
        apply_edit(text, "compute(alpha,  beta)\n", "compute(gamma)\n")


def test_elision_never_reaches_into_the_next_function() -> None:
    text = "def f():\n    a = 1\n    b = 2\n\n\ndef g():\n    return x\n"
    with pytest.raises(EditError):
        apply_edit(text, "def f():\n    ...\n    return x\n", "def f():\n    pass\n")


def test_empty_file_has_nothing_to_match() -> None:
    with pytest.raises(EditError, match="the file is empty"):
        apply_edit("", "x = 1\n", "x = 2\n")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # old has the line's newline, new lacks it: the next line stays apart
        ("a = 1\n", "a = 2", "a = 2\nb = 2\n"),
        # old lacks it, new has it: no blank line appears
        ("a = 1", "a = 2\n", "a = 2\nb = 2\n"),
        # old starts with the newline ending the line above: it stays
        ("\nb = 2\n", "b = 3\n", "a = 1\nb = 3\n"),
        # deleting whole lines still deletes them
        ("a = 1\n", "", "b = 2\n"),
    ],
)
def test_exact_match_keeps_lines_apart(old: str, new: str, expected: str) -> None:
    assert apply_edit("a = 1\nb = 2\n", old, new) == expected


def test_exact_old_with_a_real_blank_line_deletes_it() -> None:
    text = "a = 1\n\nb = 2\n"
    assert apply_edit(text, "\nb = 2\n", "b = 3\n") == "a = 1\nb = 3\n"


# --- properties -----------------------------------------------------------------

LINES = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="\r"), max_size=20),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=LINES, data=st.data())
def test_unique_exact_old_behaves_like_str_replace(
    lines: list[str], data: st.DataObject
) -> None:
    text = "\n".join(lines)
    start = data.draw(st.integers(0, max(0, len(text) - 1)))
    end = data.draw(st.integers(start + 1, max(start + 1, len(text))))
    old = text[start:end]
    new = data.draw(
        st.text(alphabet=st.characters(blacklist_characters="\r"), max_size=30)
    )
    assume(old.strip() and old != new and text.count(old) == 1)
    # Line breaks at the ends of old and new are fitted to each other (below).
    assume(not (old[0] + old[-1] + new[:1] + new[-1:]).count("\n"))
    assume(text.find(old, text.find(old) + 1) == -1)
    assert apply_edit(text, old, new) == text.replace(old, new)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(max_size=200), old=st.text(max_size=60), new=st.text(max_size=60))
def test_anything_else_is_an_edit_error(text: str, old: str, new: str) -> None:
    try:
        result = apply_edit(text, old, new)
    except EditError:
        return
    assert isinstance(result, str)


DRIFT_CHOICES: dict[str, Drift] = {
    "indent+4": shift(4),
    "trailing": trailing_spaces,
    "blank": blank_added,
    "crlf": crlf,
    "typo": typo,
}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(SOURCES)),
    where=st.floats(0, 1),
    size=st.integers(2, 9),
    drifts=st.lists(st.sampled_from(sorted(DRIFT_CHOICES)), min_size=1, max_size=3),
)
def test_a_drifted_edit_is_applied_where_meant_or_refused(
    name: str, where: float, size: int, drifts: list[str]
) -> None:
    text = SOURCES[name]
    lines = text.splitlines(True)
    start = int(where * (len(lines) - size))
    region = "".join(lines[start : start + size])
    assume(lines[start].strip() and lines[start + size - 1].strip())
    assume(text.count(region) == 1 and any(line.strip() for line in lines[1:-1]))
    new = _changed(name, region)
    old, drifted_new = region, new
    for drift in sorted(set(drifts), key=lambda d: d == "crlf"):
        old = DRIFT_CHOICES[drift](old)
        if drift == "indent+4":
            drifted_new = shift(4)(drifted_new)
    assume(old != region and old not in text)  # an exact quote of elsewhere
    try:
        result = apply_edit(text, old, drifted_new)
    except EditError:
        return
    assert result == text.replace(region, new)
