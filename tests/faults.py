"""Checks shared by the bad-input and fault tests (tests/test_faults_*.py).

Each case runs the real ``maac`` command in a subprocess, then asserts three things: the exit
code, one readable ``maac: error:`` line that names the file or key (no Python traceback), and
that nothing outside the command's own output changed (a digest of the folder before and after).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (symlinks as their target text), keyed by path."""
    digest = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_symlink():
            digest[key] = "link:" + os.readlink(path)
        elif path.is_file():
            digest[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            digest[key] = "dir"
    return digest


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("maac: error:")]


def run_maac(args: list[str], cwd: Path, env: dict[str, str] | None = None,
             timeout: float = 300) -> Outcome:
    """``maac ARGS`` in ``cwd`` with this interpreter's bin/ on PATH."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MAAC_DEBUG", None)
    done = subprocess.run(["maac", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(outcome: Outcome, *names: str, code: int = 1) -> str:
    """The command failed with ``code``, printed no traceback, and its one error line mentions
    every string in ``names`` (a file, a key, what to do). Returns that line."""
    assert outcome.code == code, (outcome.code, outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr, outcome.stderr[-4000:]
    lines = outcome.error_lines
    assert len(lines) == 1, outcome.stderr[-2000:]
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]
