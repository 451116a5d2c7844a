"""How ``old``'s indentation maps onto the file's, and re-indenting ``new``.

Weak models shift whole blocks left or right, write tabs where the file has
spaces (or the reverse), or copy ``old`` from the middle of its first line so
that only that line lost its indentation. All three are a column offset: the
file's indentation of a line is ``old``'s plus ``offset``, with a tab counting
as one indentation step of the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from loom.domain._editing_lines import Document, cols, indent_of

__all__ = ["Shift"]

# Width of a tab in a file indented with tabs; it only has to be the same for
# old, new and the file, since tabs are written back as tabs.
_TAB_COLUMNS = 4
_TAB_GUESSES = (4, 8, 2)


@dataclass(frozen=True)
class Shift:
    """The indentation change from ``old`` (and so ``new``) to the file.

    Attributes:
        offset: Columns to add to an ``old`` or ``new`` line's indentation.
        tab: Columns a tab counts, in ``old``, ``new`` and the file alike.
        file_tabs: Whether the file indents with tabs.
        first: When only ``old``'s first line was off (copied from its first
            word): that line's indentation in ``old`` and in the file. A first
            line of ``new`` indented like ``old``'s gets the file's.
        consistent: Whether one offset fits every matched line.
    """

    offset: int
    tab: int
    file_tabs: bool
    first: tuple[str, str] | None = None
    consistent: bool = True

    @staticmethod
    def tab_width(doc: Document, around: int) -> int:
        """The columns a tab counts near line ``around`` of ``doc``."""
        tabs, unit = doc.style(around)
        return _TAB_COLUMNS if tabs else unit

    @classmethod
    def measure(
        cls, doc: Document, lines: list[str], pairs: list[tuple[int, int]]
    ) -> Shift:
        """The shift that maps ``old``'s matched ``lines`` onto the file.

        When tabs meet spaces, the tab width that makes one offset fit every
        line wins: the file's own step first, then 4, 8 and 2.

        Args:
            doc: The file.
            lines: ``old``'s lines.
            pairs: ``(old line, file line)`` of every matched line.
        """
        around = pairs[0][1]
        file_tabs = doc.style(around)[0]
        widths = dict.fromkeys((cls.tab_width(doc, around), *_TAB_GUESSES))
        shifts = [cls._measured(doc, lines, pairs, tab, file_tabs) for tab in widths]
        return next((s for s in shifts if s.consistent), shifts[0])

    @classmethod
    def _measured(
        cls,
        doc: Document,
        lines: list[str],
        pairs: list[tuple[int, int]],
        tab: int,
        file_tabs: bool,
    ) -> Shift:
        deltas = [
            doc.indent_cols(f, tab) - cols(indent_of(lines[o]), tab) for o, f in pairs
        ]
        if _first_line_apart(deltas):
            # Only the plain copy from the first word, with the rest of old
            # exactly in place, is trusted to say where old's blocks are.
            first = indent_of(lines[pairs[0][0]])
            trusted = first == "" and deltas[1] == 0
            placed = (first, doc.indent(pairs[0][1]))
            return cls(deltas[1], tab, file_tabs, placed, trusted)
        counts = Counter(deltas)
        # The most common offset wins when the model's own relative indentation
        # is off on a few lines; ties go to the earliest line.
        offset = counts.most_common(1)[0][0]
        return cls(offset, tab, file_tabs, None, len(counts) == 1)

    def identity(self) -> Shift:
        """The same file style, with no offset: ``new`` is already in place."""
        return Shift(0, self.tab, self.file_tabs)

    def apply(self, indent: str) -> str:
        """``indent`` (from ``old`` or ``new``) as the file would write it."""
        if self.offset == 0 and self._in_style(indent):
            return indent
        width = max(0, cols(indent, self.tab) + self.offset)
        if self.file_tabs:
            return "\t" * (width // self.tab) + " " * (width % self.tab)
        return " " * width

    def _in_style(self, indent: str) -> bool:
        """Whether ``indent`` already uses the file's tabs or spaces."""
        if not self.file_tabs:
            return "\t" not in indent
        tabs = indent.rstrip(" ")
        return tabs == "\t" * len(tabs) and len(indent) - len(tabs) < self.tab


def _first_line_apart(deltas: list[int]) -> bool:
    """Whether only ``old``'s first line is off, the rest agreeing.

    That is what copying ``old`` from the first line's first word gives.
    """
    rest = deltas[1:]
    return bool(rest) and deltas[0] != rest[0] and all(d == rest[0] for d in rest)
