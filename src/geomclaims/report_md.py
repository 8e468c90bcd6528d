"""Markdown building blocks shared by the report and the studies' report sections: number format, short cells,
folded blocks, tables. Kept apart from report.py so a study section can import them without the renderer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

CELL = 60  # the longest table cell the summary allows; longer text belongs in the details


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def escape(text: Any) -> str:
    """One line, with the table separator escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def cap(text: Any, width: int = CELL) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis (the full text is in the details)."""
    s = escape(text)
    return s if len(s) <= width else s[: width - 1].rstrip() + "…"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub table; cells are taken as written (no number parsing, so "1.00" stays "1.00")."""
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True)


def fold(summary: str, body: Sequence[str]) -> list[str]:
    """A ``<details>`` block (GitHub renders it folded): the blank lines around the body let markdown inside it
    (tables, lists) render."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>"]


def figure(alt: str, link: str) -> str:
    """An image with its caption as the alt text and as a caption under it, on one markdown line that ends in a
    line break, so consecutive figures form one paragraph (image, caption, image, caption)."""
    return f"![{alt}]({link})<br>*{alt}*<br>"
