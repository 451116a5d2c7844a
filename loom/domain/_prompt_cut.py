"""Cutting text down to a token budget: the search and the marked cuts."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["cut_head", "cut_middle", "largest_fitting"]


def largest_fitting(most: int, fits: Callable[[int], bool]) -> int | None:
    """The largest ``k`` in ``0..most`` for which ``fits(k)``, or None if not even 0.

    ``fits`` is assumed to be monotone (true up to some ``k``, false after), as
    token counts of ever longer cuts are; where a counter breaks that, the
    answer is still one that fits, just perhaps not the largest.
    """
    if not fits(0):
        return None
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def cut_middle(text: str, keep: int) -> str:
    """``text`` with all but ``keep`` of its characters cut from the middle, marked.

    Both ends survive because a request usually states its goal first and its
    latest detail (a pasted error, a question) last.
    """
    if keep >= len(text):
        return text
    head = (keep + 1) // 2
    tail = keep - head
    marker = (
        f"\n\n[... {len(text) - keep} characters cut from the middle of this "
        "message to fit the context window ...]\n\n"
    )
    return f"{text[:head]}{marker}{text[len(text) - tail :]}"


def cut_head(text: str, keep: int) -> str:
    """The first ``keep`` characters of ``text``, back to a line break, marked.

    The workspace context lists the most useful things first (tree, git
    status) and the longest last (key files), so its tail is what goes.
    """
    if keep >= len(text):
        return text
    kept = text[:keep]
    line_end = kept.rfind("\n")
    if line_end > 0:
        kept = kept[:line_end]
    return (
        f"{kept}\n[... {len(text) - len(kept)} more characters of workspace "
        "context cut to fit the context window ...]"
    )
