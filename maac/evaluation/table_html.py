"""A table's Markdown (``results/{run}/table1.md``) as HTML for the Snakemake report.

Generic: every pipe table of the Markdown becomes an HTML table with whatever columns it has,
and every other non-empty line a paragraph below it (the footnotes), so columns and notes added
to the tables need no change here. Each table sits in its own box that scrolls sideways when
it is wider than the page (its notes stay in view), so a wide table never overflows the report.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from maac.atomic import atomic_file

CLASS = "maac-table"  # the report's front page finds the tables by this class
STYLE = f"""
.{CLASS} {{ max-width: 100%; margin: 0 0 1em 0; }}
.{CLASS} .scroll {{ overflow-x: auto; max-width: 100%; margin: 0.4em 0 0.6em 0; }}
.{CLASS} table {{ border-collapse: collapse; font: 13px/1.35 system-ui, sans-serif;
  margin: 0; }}
.{CLASS} th, .{CLASS} td {{ border-bottom: 1px solid #ddd; padding: 3px 8px;
  white-space: nowrap; text-align: right; }}
.{CLASS} th {{ background: #f3f4f6; border-bottom: 2px solid #999; }}
.{CLASS} td.left, .{CLASS} th.left {{ text-align: left; }}
.{CLASS} p {{ font: 12px/1.4 system-ui, sans-serif; color: #333; margin: 0.2em 0;
  max-width: 70em; white-space: normal; }}
"""
_DELIMITER = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    heads, aligns, body = _cells(lines[0]), _cells(lines[1]), [_cells(x) for x in lines[2:]]
    left = [not a.endswith(":") for a in aligns]  # Markdown's ---: is right-aligned
    left += [True] * (len(heads) - len(left))

    def row(cells: list[str], tag: str) -> str:
        marks = [' class="left"' if i >= len(left) or left[i] else "" for i in range(len(cells))]
        return "<tr>" + "".join(f"<{tag}{mark}>{html.escape(c)}</{tag}>"
                                for c, mark in zip(cells, marks, strict=True)) + "</tr>"

    return ("<table><thead>" + row(heads, "th") + "</thead><tbody>"
            + "".join(row(cells, "td") for cells in body) + "</tbody></table>")


def markdown_fragment(markdown: str) -> str:
    """The tables and notes of a Markdown text as one HTML ``<div class="maac-table">``."""
    lines = markdown.splitlines()
    parts: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("|") and i + 1 < len(lines) and _DELIMITER.match(lines[i + 1].strip()):
            end = i + 2
            while end < len(lines) and lines[end].strip().startswith("|"):
                end += 1
            parts.append(f'<div class="scroll">{_table(lines[i:end])}</div>')
            i = end
            continue
        if line:
            parts.append(f"<p>{html.escape(line)}</p>")
        i += 1
    return f'<div class="{CLASS}">' + "\n".join(parts) + "</div>"


def markdown_page(markdown: str, title: str) -> str:
    """A standalone HTML page of :func:`markdown_fragment` (what the report shows as a result)."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{STYLE}body {{ margin: 12px; }}</style></head><body>"
            f"<h3 style=\"font: bold 15px system-ui, sans-serif\">{html.escape(title)}</h3>\n"
            f"{markdown_fragment(markdown)}\n</body></html>\n")


def write_page(markdown: str, title: str, out: Path | str) -> None:
    with atomic_file(out) as tmp:
        tmp.write_text(markdown_page(markdown, title), encoding="utf-8")
