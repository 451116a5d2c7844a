"""Search-and-replace edits that survive how weak local models quote code.

A model edits a file by naming the text to replace (``old``) and its
replacement (``new``). Small local models rarely quote ``old`` exactly: they
shift its indentation, write tabs for spaces, add or drop trailing spaces and
blank lines, mix CRLF and LF, drop the final newline, make a one-character
typo, or elide the middle with a ``...`` line. :func:`apply_edit` finds the
region they meant anyway, re-indents ``new`` to fit it, and keeps the file's
line endings.

It never guesses between regions. A refused edit costs the model one more
turn; an edit in the wrong place silently breaks the file. So when two regions
match about equally well, or none matches closely enough, it changes nothing
and raises :class:`EditError` with a message that tells the model what to do.
"""

from __future__ import annotations

from loom.domain._editing_lines import Document, dominant_crlf, line_range
from loom.domain._editing_match import Ambiguous, Found, locate
from loom.domain._editing_render import render
from loom.domain.errors import LoomError

__all__ = ["EditError", "apply_edit"]

_SHOWN_RANGES = 3
_SHOWN_LINES = 12
_NUMBER_WIDTH = 4


class EditError(LoomError):
    """An edit that was not applied, with what the model should do instead.

    Attributes:
        ranges: The 1-based, inclusive line ranges the message names: the
            competing regions of an ambiguous edit, or the closest region of
            one that matched nowhere.
    """

    def __init__(self, message: str, ranges: tuple[tuple[int, int], ...] = ()) -> None:
        super().__init__(message)
        self.ranges = ranges


def apply_edit(text: str, old: str, new: str) -> str:
    """Replace the one region of ``text`` that ``old`` stands for with ``new``.

    An exact, unique occurrence of ``old`` is replaced as it is, except that a
    line break ``old`` and ``new`` disagree on at their ends is made to agree,
    so two lines are never joined by accident. Otherwise the
    lines of ``old`` are matched against the file's tolerating indentation,
    tabs, trailing whitespace, blank lines, line endings, a small typo, and
    ``...`` (or ``# ...``, ``// ...``) lines standing for elided lines; ``new``
    replaces the matched lines, re-indented to the file's indentation, and
    a ``...`` line in ``new`` keeps the elided lines.

    Args:
        text: The file's current content.
        old: The text to replace, as the model quoted it.
        new: The replacement.

    Returns:
        The file's new content, with its line endings and final-newline state.

    Raises:
        EditError: ``old`` is empty or equals ``new``; it matches several
            regions about equally well; or nothing matches closely enough.
    """
    _check_arguments(old, new)
    replaced = _replace_exact(text, old, new)
    if replaced is not None:
        return replaced
    doc = Document.parse(text)
    outcome = locate(doc, old)
    if isinstance(outcome, Found):
        return render(doc, outcome.match, old, new)
    if isinstance(outcome, Ambiguous):
        raise _ambiguous([(m.first, m.last) for m in outcome.matches])
    raise _not_found(doc, outcome.closest)


def _check_arguments(old: str, new: str) -> None:
    if not old.strip():
        raise EditError(
            "old is empty: give the exact lines to replace, copied from the file. "
            "To create a new file, use write_file instead."
        )
    if old == new:
        raise EditError(
            "old and new are identical, so there is no change to make. Put the "
            "current text in old and the changed text in new."
        )


# --- exact matches -----------------------------------------------------------


def _replace_exact(text: str, old: str, new: str) -> str | None:
    """``text`` with the single exact occurrence of ``old`` replaced, if any.

    ``old`` is also tried with the file's line endings, since a model's LF
    quote of a CRLF file is otherwise exact.
    """
    crlf = dominant_crlf(text)
    newline = "\r\n" if crlf else "\n"
    new = _with_newlines(new, crlf)
    for quoted in dict.fromkeys((old, _with_newlines(old, crlf))):
        starts = _occurrences(text, quoted)
        if len(starts) == 1:
            start, end = starts[0], starts[0] + len(quoted)
            fitted = _fit_edges(text, start, end, quoted, new, newline)
            return text[:start] + fitted + text[end:]
        if starts:
            raise _ambiguous([_lines_of(text, s, quoted) for s in starts], exact=True)
    return None


def _fit_edges(
    text: str, start: int, end: int, old: str, new: str, newline: str
) -> str:
    """``new`` with the line breaks at its ends made to agree with ``old``'s.

    Models add or drop the newline at either end of one string but not the
    other; taken literally, that joins two lines or adds a blank one.
    """
    ends_line = old.endswith(newline)
    if new and ends_line and not new.endswith(newline):
        new += newline
    elif not ends_line and new.endswith(newline) and text.startswith(newline, end):
        new = new[: -len(newline)]
    # A leading newline that ends a non-blank line above is that line's own.
    joins = start > 0 and text[start - 1] != "\n"
    if old.startswith(newline) and not new.startswith(newline) and joins:
        new = newline + new
    return new


def _occurrences(text: str, old: str) -> list[int]:
    """Where ``old`` starts in ``text``, overlaps included."""
    starts: list[int] = []
    at = text.find(old)
    while at >= 0:
        starts.append(at)
        at = text.find(old, at + 1)
    return starts


def _with_newlines(text: str, crlf: bool) -> str:
    """``text`` with every line ending made CRLF (``crlf``) or LF."""
    unified = text.replace("\r\n", "\n")
    return unified.replace("\n", "\r\n") if crlf else unified


def _lines_of(text: str, start: int, old: str) -> tuple[int, int]:
    """The 0-based first and last line that ``old`` at ``start`` touches."""
    first = text.count("\n", 0, start)
    return first, first + old.rstrip("\n").count("\n")


# --- refusals ----------------------------------------------------------------


def _ambiguous(ranges: list[tuple[int, int]], *, exact: bool = False) -> EditError:
    """The refusal for an ``old`` that fits several regions."""
    # The best match comes first, so the ones shown always include it.
    named = sorted(ranges[:_SHOWN_RANGES])
    shown = [line_range(a, b) for a, b in named]
    places = ", ".join(shown[:-1]) + f" and {shown[-1]}"
    if len(ranges) > len(shown):
        places = ", ".join(shown) + f" and {len(ranges) - len(shown)} more"
    count = len(ranges)
    fits = f"occurs in {count} places" if exact else f"matches {count} places"
    return EditError(
        f"old {fits}{'' if exact else ' about equally well'} ({places}), so "
        "nothing was changed. Add more of the unchanged lines around the change "
        "to old, so that it matches only one place.",
        _one_based(named),
    )


def _not_found(doc: Document, closest: tuple[int, int] | None) -> EditError:
    """The refusal for an ``old`` that matches nowhere, showing the nearest."""
    advice = (
        "Please re-read the file with read_file and copy old from it exactly: "
        "whole lines, with their indentation."
    )
    if not doc.nb:
        return EditError(
            "the file is empty, so there is nothing to replace; nothing was "
            "changed. Use write_file to give it content."
        )
    if closest is None:
        return EditError(
            f"old was not found in the file, so nothing was changed. {advice}"
        )
    return EditError(
        "old does not match the file closely enough to edit it safely, so "
        f"nothing was changed. The most similar part is {line_range(*closest)}:\n"
        f"{_numbered(doc, *closest)}\n{advice}",
        _one_based([closest]),
    )


def _numbered(doc: Document, first: int, last: int) -> str:
    """Lines ``first..last`` of the file, numbered like ``  12 | code``."""
    stop = min(last, first + _SHOWN_LINES - 1)
    shown = [
        f"{i + 1:>{_NUMBER_WIDTH}} | {doc.body(i)}" for i in range(first, stop + 1)
    ]
    if stop < last:
        shown.append(f"{'':>{_NUMBER_WIDTH}} | ... ({last - stop} more lines)")
    return "\n".join(shown)


def _one_based(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((a + 1, b + 1) for a, b in ranges)
