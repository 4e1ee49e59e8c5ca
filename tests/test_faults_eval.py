"""Faults around `maac evaluate` / `maac decode`, and the command's last line of defence.

Each case runs the real ``maac`` command in a subprocess (``tests/faults.py``): the exit code,
one ``maac: error:`` line naming the file and what to do, no traceback, nothing else changed.
The outputs are checked before the slow scoring, so none of these cases needs Java.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from maac.errors import fault_line
from tests.faults import assert_one_line_error, run_maac, tree_digest
from tests.test_metrics import REFERENCES, _write_predictions, _write_references

PREDICTIONS = {name: "a dog barks" for name in REFERENCES}


def _inputs(root: Path) -> tuple[Path, Path]:
    _write_references(root / "refs.csv")
    _write_predictions(root / "preds.csv", PREDICTIONS)
    return root / "preds.csv", root / "refs.csv"


def _read_only_folder(root: Path) -> Path:
    """A folder this process cannot create files in: chmod 555, or sysfs for root (whom
    permissions do not stop)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = root / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_evaluate_out_in_a_folder_that_cannot_be_written_fails_before_scoring(
        tmp_path: Path) -> None:
    preds, refs = _inputs(tmp_path)
    locked = _read_only_folder(tmp_path)
    before = tree_digest(tmp_path)
    out = locked / "results" / "metrics.json"
    outcome = run_maac(["evaluate", str(preds), str(refs), "--out", str(out)], tmp_path)
    assert_one_line_error(outcome, "--out", str(out), f"cannot write in {locked}",
                          "choose another location")
    assert "CIDEr" not in outcome.stdout  # refused before scoring: no table printed
    assert tree_digest(tmp_path) == before
    assert not (locked / "results").exists()


def test_evaluate_scores_under_a_file_and_out_a_folder_are_refused(tmp_path: Path) -> None:
    preds, refs = _inputs(tmp_path)
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = tree_digest(tmp_path)
    scores = tmp_path / "notes.txt" / "scores.csv"
    outcome = run_maac(["evaluate", str(preds), str(refs), "--scores", str(scores)], tmp_path)
    assert_one_line_error(outcome, "--scores", str(scores), "is not a folder")
    outcome = run_maac(["evaluate", str(preds), str(refs), "--out", str(tmp_path)], tmp_path)
    assert_one_line_error(outcome, "--out", "is a folder", "give a file name")
    assert tree_digest(tmp_path) == before


def test_decode_out_that_cannot_be_written_fails_before_loading_anything(
        tmp_path: Path) -> None:
    locked = _read_only_folder(tmp_path)
    before = tree_digest(tmp_path)
    out = locked / "captions.csv"
    outcome = run_maac(["decode", "--checkpoint", "best.pt", "--features", "x.h5", "--vocab",
                        "vocab.json", "--out", str(out)], tmp_path)
    assert_one_line_error(outcome, "--out", str(out), "cannot write in")
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("which", ["predictions", "references"])
def test_a_captions_file_that_is_not_utf8_is_named(tmp_path: Path, which: str) -> None:
    preds, refs = _inputs(tmp_path)
    bad = preds if which == "predictions" else refs
    text = bad.read_text(encoding="utf-8").replace("a dog", "un café", 1).replace(
        "A dog", "Un café", 1)
    bad.write_bytes(text.encode("cp1252"))  # as a spreadsheet on Windows saves it
    before = tree_digest(tmp_path)
    out = tmp_path / "metrics.json"
    outcome = run_maac(["evaluate", str(preds), str(refs), "--out", str(out)], tmp_path)
    assert_one_line_error(outcome, str(bad), "not UTF-8", "0xe9", "as UTF-8")
    assert tree_digest(tmp_path) == before


# --- the last line of defence (maac/cli/main.py, maac/errors.py) ------------------------------

def _with_failing_handler(body: str) -> list[str]:
    """``maac metrics-setup`` through the real entry point, its handler replaced by ``body``
    (a fault that no input can produce on purpose: a bug, a full disk)."""
    script = (
        "import sys\nfrom pathlib import Path\nimport maac.cli.eval_commands as commands\n"
        "from maac.cli import main\n"
        f"def handler(args):\n    {body}\n"
        "commands._metrics_setup = handler\n"
        "sys.exit(main.main(sys.argv[1:]))\n"
    )
    return [sys.executable, "-c", script]


def _run(cmd: list[str], tmp_path: Path, debug: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAAC_DEBUG"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if debug is not None:
        env["MAAC_DEBUG"] = debug
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def test_an_unexpected_error_is_one_line_and_the_debug_switch_shows_the_traceback(
        tmp_path: Path) -> None:
    bug = _with_failing_handler("raise KeyError('no such thing')")
    plain = _run([*bug, "metrics-setup"], tmp_path)
    assert plain.returncode == 3, plain.stderr
    assert plain.stderr.splitlines() == [
        "maac: internal error: KeyError: 'no such thing' (rerun with MAAC_DEBUG=1 for the "
        "traceback; please report it)"]
    for argv, debug in (([*bug, "--debug", "metrics-setup"], None),
                        ([*bug, "metrics-setup"], "1")):
        shown = _run(argv, tmp_path, debug)
        assert shown.returncode == 1
        assert "Traceback (most recent call last)" in shown.stderr
        assert shown.stderr.rstrip().endswith("KeyError: 'no such thing'")
        assert "in handler" in shown.stderr  # the frame that raised
    off = _run([*bug, "metrics-setup"], tmp_path, "0")
    assert off.returncode == 3 and "Traceback" not in off.stderr


def test_an_expected_error_shows_its_traceback_only_with_the_debug_switch(
        tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    args = ["evaluate", str(missing), str(missing)]
    plain = _run(["maac", *args], tmp_path)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.splitlines() == [f"maac: error: {missing}: predictions CSV (run "
                                         "`maac decode` first) not found"]
    shown = _run(["maac", "--debug", *args], tmp_path)
    assert shown.returncode == 1 and "Traceback" in shown.stderr and "MaacError" in shown.stderr


def test_a_full_disk_anywhere_is_one_line_naming_the_file(tmp_path: Path) -> None:
    full = _run([*_with_failing_handler("Path('/dev/full').write_text('x' * 100)"),
                 "metrics-setup"], tmp_path)
    assert full.returncode == 1, full.stderr
    assert full.stderr.splitlines() == [
        "maac: error: disk full writing /dev/full; free some space and rerun"]


def test_fault_line_on_real_os_errors(tmp_path: Path) -> None:
    """The errors the kernel gives: no space (/dev/full), a refused write, a missing file,
    each with the file it names; one hidden under another error (``raise ... from``)."""
    with pytest.raises(OSError) as full, open("/dev/full", "w") as f:  # noqa: PTH123
        f.write("x")
    assert fault_line(full.value) == (
        1, "maac: error: disk full writing /dev/full; free some space and rerun")
    locked = _read_only_folder(tmp_path)
    with pytest.raises(PermissionError) as denied:
        (locked / "out.json").write_text("{}")
    assert fault_line(denied.value) == (1, f"maac: error: {locked / 'out.json'}: permission "
                                           "denied; check the permissions of the file and its "
                                           "folder")
    with pytest.raises(FileNotFoundError) as missing:
        (tmp_path / "nope.csv").read_text()
    assert fault_line(missing.value) == (
        1, f"maac: error: {tmp_path / 'nope.csv'}: No such file or directory")
    try:
        try:
            (locked / "out.json").write_text("{}")
        except OSError as err:
            raise RuntimeError("could not save") from err
    except RuntimeError as wrapped:
        assert fault_line(wrapped)[1].startswith(f"maac: error: {locked / 'out.json'}: "
                                                 "permission denied")
    assert fault_line(ValueError("x" * 400))[0] == 3
    assert len(fault_line(ValueError("x" * 400))[1]) < 420


def test_writable_accepts_a_new_folder_and_creates_nothing(tmp_path: Path) -> None:
    from maac.cli.eval_commands import writable

    writable(tmp_path / "new" / "deeper" / "metrics.json", "--out")
    assert list(tmp_path.iterdir()) == []
