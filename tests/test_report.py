"""The report people read: tables rendered as HTML (generic over columns and footnotes), and the
Snakemake report of a real tiny run, opened in a real browser, with Table 1 and 2 up front."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from maac.evaluation.table_html import CLASS, STYLE, markdown_fragment, markdown_page
from tests.conftest import TinyRun

MARKDOWN = """\
| model | B4 | CIDEr-D | FENSE <new> | seeds |
|---|---:|---:|---:|---:|
| MAAC, cross-entropy | 1.2 [0.5, 2.0] | 3.4 [1.0, 5.0] | n/a (needs a & b) | 2 |

Scores x100 on the test split.
n/a: a footnote line added later.

| comparison | metric | verdict |
|---|---|---|
| MAAC vs Base | CIDEr-D | no significant difference |
"""


def test_markdown_tables_and_footnotes_become_html() -> None:
    fragment = markdown_fragment(MARKDOWN)
    assert fragment.startswith(f'<div class="{CLASS}">')
    assert fragment.count("<table>") == 2
    heads = re.findall(r"<th(?: class=\"left\")?>(.*?)</th>", fragment)
    assert heads[:5] == ["model", "B4", "CIDEr-D", "FENSE &lt;new&gt;", "seeds"]
    assert "<td>n/a (needs a &amp; b)</td>" in fragment  # right-aligned number column
    assert '<td class="left">MAAC, cross-entropy</td>' in fragment
    assert "<p>Scores x100 on the test split.</p>" in fragment
    assert "<p>n/a: a footnote line added later.</p>" in fragment
    assert "overflow-x: auto" in STYLE  # wide tables scroll inside their box
    assert markdown_page(MARKDOWN, "Table 1").count("<table>") == 2


@pytest.mark.integration
def test_report_front_page_shows_the_tables_in_a_browser(
    tmp_path: Path, tiny_run: TinyRun
) -> None:
    """The tiny run (shared), `snakemake --report`, then Chromium (headless) renders the page:
    the front page holds Table 1 and Table 2 as tables before the figures' and DAG's links."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    work, cmd, env = tiny_run.work, tiny_run.cmd, tiny_run.env
    for name in ("table1", "table2"):
        page = (work / "results/tiny" / f"{name}.html").read_text()
        assert page.count("<table>") == 2 and "CIDEr-D" in page  # the table, its comparisons
    report = work / "report.html"
    made = subprocess.run([*cmd, "--report", str(report)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    if browser is None:
        pytest.skip("no chromium to render the report (apt-get install chromium)")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
                         env={**env, "HOME": str(tmp_path)}, capture_output=True, text=True,
                         timeout=120).stdout
    start = dom.index('<div class="maac-front">')
    tables = dom[start:dom.index("<strong>Figures</strong>")]
    assert tables.count("<table>") == 4, "Table 1 and Table 2, each with its comparisons"
    first, second = tables.index("Table 1:"), tables.index("Table 2:")
    assert first < second and "CIDEr-D" in tables[:second] and "n/a" in tables
    assert start < dom.index("The pipeline's DAG") < dom.index('id="brand"', start)
    if os.environ.get("MAAC_SHOTS"):  # screenshots for a person to look at
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        f"--screenshot={os.environ['MAAC_SHOTS']}/report.png",
                        "--window-size=1400,1800", "--virtual-time-budget=5000",
                        report.as_uri()], env={**env, "HOME": str(tmp_path)}, timeout=120)
