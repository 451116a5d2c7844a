"""Writing ``new`` over a matched region in the file's own style.

``new`` is taken as whole lines. It is re-indented by the shift found between
``old`` and the file and written with the file's line endings; lines it keeps
unchanged from ``old`` are written exactly as the file has them, so a typo or
stray whitespace in a copied line does not leak into the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from loom.domain._editing_lines import (
    Document,
    indent_of,
    is_marker,
    line_key,
    split_lines,
)
from loom.domain._editing_shift import Shift
from loom.domain._editing_windows import Match

__all__ = ["render"]

K = TypeVar("K")


def render(doc: Document, match: Match, old: str, new: str) -> str:
    """The file's text with ``match`` replaced by ``new``.

    Args:
        doc: The file.
        match: Where ``old`` matched.
        old: The text the model asked to replace.
        new: Its replacement.
    """
    lines = split_lines(old)
    replacement = split_lines(new) if new else []
    if match.elided:
        replacement = _drop_outer_markers(lines, replacement)
    replacement = _edges(match, lines, replacement)
    writer = _Writer.for_match(doc, match, lines, replacement)
    if _splices(doc, match, replacement):
        out = _spliced(doc, match, writer, replacement)
    else:
        out = writer.write(replacement)
    return _assemble(doc, match.first, match.last, out)


@dataclass(frozen=True)
class _Writer:
    """Turns lines of ``new`` into lines of the file.

    Attributes:
        shift: The indentation change from ``old`` to the file.
        verbatim: File line for each (indentation, key) of a matched old line;
            None where old has it twice, matched to different file lines.
        contents: File line content (after indentation) for each old key;
            None where that is not one thing.
        rstrip: Whether ``old`` gained trailing whitespace the file lacks, so
            ``new``'s is dropped too.
        crlf: Whether to end lines with CRLF.
    """

    shift: Shift
    verbatim: dict[tuple[str, str], str | None]
    contents: dict[str, str | None]
    rstrip: bool
    crlf: bool

    @classmethod
    def for_match(
        cls, doc: Document, match: Match, lines: list[str], new: list[str]
    ) -> _Writer:
        """A writer for ``new`` over ``match``, learning from ``old``'s ``lines``."""
        pairs = list(match.pairs)
        shift = Shift.measure(doc, lines, pairs)
        if _already_placed(doc, match, lines, new):
            shift = shift.identity()
        verbatim: dict[tuple[str, str], str | None] = {}
        contents: dict[str, str | None] = {}
        for o, f in pairs:
            key, body = line_key(lines[o]), doc.body(f)
            _remember(verbatim, (indent_of(lines[o]), key), body)
            _remember(contents, key, body[len(indent_of(body)) :])
        rstrip = any(
            _trailing(lines[o]) and not _trailing(doc.body(f)) for o, f in pairs
        )
        return cls(shift, verbatim, contents, rstrip, doc.crlf)

    def write(self, lines: list[str], *, first: bool = True) -> list[str]:
        """``lines`` of ``new`` as file parts (ending in CR in a CRLF file)."""
        out: list[str] = []
        for line in lines:
            out.append(self._line(line, first=first) + ("\r" if self.crlf else ""))
            first = first and not line.strip()
        return out

    def _line(self, line: str, *, first: bool) -> str:
        indent = indent_of(line)
        key = line_key(line)
        if not key:
            # Blank lines keep whatever whitespace they had only when shifted.
            return "" if self.rstrip or not indent else self.shift.apply(indent)
        kept = self.verbatim.get((indent, key))
        if kept is not None:
            return kept
        content = self.contents.get(key)
        if content is None:
            content = line[len(indent) :]
            content = content.rstrip() if self.rstrip else content
        if first and self.shift.first is not None and indent == self.shift.first[0]:
            return self.shift.first[1] + content
        return self.shift.apply(indent) + content


def _remember(table: dict[K, str | None], key: K, value: str) -> None:
    """Record ``value`` for ``key``, or None once ``key`` means several things."""
    table[key] = value if table.get(key, value) == value else None


def _trailing(line: str) -> bool:
    """Whether a non-blank ``line`` ends in whitespace."""
    return bool(line.strip()) and line != line.rstrip()


def _already_placed(
    doc: Document, match: Match, lines: list[str], new: list[str]
) -> bool:
    """Whether ``new`` already has the file's indentation while ``old`` has not.

    Then ``new`` was written against the file, and shifting it would move it
    twice.
    """
    first = next((line for line in new if line.strip()), None)
    if first is None:
        return False
    placed = doc.indent(match.first)
    return indent_of(first) == placed != indent_of(lines[match.pairs[0][0]])


def _drop_outer_markers(lines: list[str], new: list[str]) -> list[str]:
    """``new`` without the leading or trailing marker that ``old`` also has."""
    solid = [line for line in lines if line.strip()]
    if solid and is_marker(solid[0]):
        new = _after_leading_marker(new)
    if solid and is_marker(solid[-1]):
        new = _after_leading_marker(new[::-1])[::-1]
    return new


def _after_leading_marker(new: list[str]) -> list[str]:
    solid = [i for i, line in enumerate(new) if line.strip()]
    if solid and is_marker(new[solid[0]]):
        return new[solid[0] + 1 :]
    return new


def _edges(match: Match, lines: list[str], new: list[str]) -> list[str]:
    """``new`` without the blank lines it shares with the edges of ``old``.

    Blank lines at the edges of ``old`` take no part in matching, and those
    ``new`` repeats are no change. Those ``new`` lacks are left in the file:
    an extra blank line is as often drift as a request to delete one.
    """
    above = _blank_run(lines[: match.pairs[0][0]][::-1])
    below = _blank_run(lines[match.pairs[-1][0] + 1 :])
    new_above, new_below = _blank_run(new), _blank_run(new[::-1])
    stop = len(new) - min(below, new_below)
    return new[min(above, new_above) : max(stop, min(above, new_above))]


def _blank_run(lines: list[str]) -> int:
    """How many blank lines open ``lines``, looking past elision markers."""
    count = 0
    for line in lines:
        if line.strip() and not is_marker(line):
            break
        count += not line.strip()
    return count


def _splices(doc: Document, match: Match, new: list[str]) -> bool:
    """Whether ``new``'s markers stand for the lines ``old``'s markers elided.

    They do when the counts agree and ``new`` does not spell out most of the
    elided lines anyway, in which case its ``...`` lines are literal text.
    """
    if not match.gaps or sum(map(is_marker, new)) != len(match.gaps):
        return False
    elided = [doc.keys[i] for a, b in match.gaps for i in range(a, b) if doc.keys[i]]
    written = {line_key(line) for line in new}
    return sum(key in written for key in elided) * 2 < max(1, len(elided))


def _spliced(doc: Document, match: Match, writer: _Writer, new: list[str]) -> list[str]:
    """``new`` with the file's elided lines put back where its markers stand."""
    chunks: list[list[str]] = [[]]
    for line in new:
        if is_marker(line):
            chunks.append([])
        else:
            chunks[-1].append(line)
    # Blank lines around a marker are already among the elided file lines.
    chunks = [
        _strip_blank(chunk, i > 0, i < len(match.gaps))
        for i, chunk in enumerate(chunks)
    ]
    out = writer.write(chunks[0])
    for (start, stop), chunk in zip(match.gaps, chunks[1:], strict=True):
        out += doc.parts[start:stop]
        out += writer.write(chunk, first=False)
    return out


def _strip_blank(lines: list[str], head: bool, tail: bool) -> list[str]:
    """``lines`` without blank lines at the start (``head``) or end (``tail``)."""
    low = _blank_run(lines) if head else 0
    high = len(lines) - (_blank_run(lines[::-1]) if tail else 0)
    return lines[low:high] if low < high else []


def _assemble(doc: Document, start: int, stop: int, out: list[str]) -> str:
    """The file with lines ``start..stop`` (inclusive) replaced by ``out``."""
    head = doc.parts[:start]
    if stop == len(doc.parts) - 1:
        # The region ends the file, which has no final line ending: keep it so.
        if out:
            out[-1] = out[-1].removesuffix("\r")
        elif head:
            head[-1] = head[-1].removesuffix("\r")
    return "\n".join([*head, *out, *doc.parts[stop + 1 :]])
