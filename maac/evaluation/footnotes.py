"""Footnote marks for "n/a" cells: each reason gets one short mark, stated once below a table."""

from __future__ import annotations

MARKS = "¹²³⁴⁵⁶⁷⁸⁹"


class Footnotes:
    """Reasons in order of first use, each with its mark (¹, ², ...; then [10], [11], ...)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def mark(self, reason: str) -> str:
        if reason not in self.reasons:
            self.reasons.append(reason)
        i = self.reasons.index(reason)
        return MARKS[i] if i < len(MARKS) else f"[{i + 1}]"

    def na(self, reason: str) -> str:
        """The cell text: "n/a" and the reason's mark."""
        return f"n/a{self.mark(reason)}"

    def lines(self) -> list[str]:
        """One line per reason, "¹ reason" ("" before them when there are any)."""
        if not self.reasons:
            return []
        marks = [self.mark(r) for r in self.reasons]
        return ["", *(f"{m} n/a: {r}" for m, r in zip(marks, self.reasons, strict=True))]
