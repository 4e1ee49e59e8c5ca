"""Project plumbing: pins agree, Makefile installs only when needed, code is ruff clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from tests.conftest import REPO


def _normalise(spec: str) -> tuple[str, str]:
    req = Requirement(spec)
    return req.name.lower().replace("_", "-"), str(req.specifier)


def test_environment_yml_has_the_same_pins_as_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {_normalise(s) for s in pip if not s.startswith("-e")}
    assert conda_pins == {_normalise(s) for s in project["dependencies"]}
    assert "-e ." in pip
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11" and project["requires-python"].startswith(">=3.11")


def test_torch_is_pinned_exactly() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = [Requirement(d) for d in deps if Requirement(d).name == "torch"]
    assert len(torch) == 1 and str(torch[0].specifier).startswith("==")


def test_makefile_installs_once_and_again_after_pyproject_changes(tmp_path: Path) -> None:
    """`make` creates the install stamp, skips the install when nothing changed, redoes it after."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    calls = tmp_path / "pip-calls.log"
    fake_bin = tmp_path / ".venv" / "bin"
    fake_bin.mkdir(parents=True)
    # Stands in for the venv's python: records the install command instead of installing.
    (fake_bin / "python").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    (fake_bin / "python").chmod(0o755)
    env = {**os.environ, "MAKEFLAGS": ""}

    def make() -> None:
        subprocess.run(["make", "-s", ".venv/.installed"], cwd=tmp_path, env=env, check=True,
                       capture_output=True)

    make()
    make()
    assert calls.read_text().splitlines() == ["-m pip install -e .[dev]"]
    stamp = tmp_path / ".venv" / ".installed"
    os.utime(tmp_path / "pyproject.toml", (stamp.stat().st_mtime + 5,) * 2)
    make()
    assert len(calls.read_text().splitlines()) == 2


def test_ci_runs_make_test() -> None:
    script = (REPO / ".ci" / "run").read_text()
    commands = [line.strip() for line in script.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "make test"
    assert "make test" in (REPO / "README.md").read_text()


def test_ruff_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(REPO)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_data_and_results_contents_are_git_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "data/raw/x.wav", "results/demo/table1.md",
         "data/README.md", "results/README.md"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.stdout.split() == ["data/raw/x.wav", "results/demo/table1.md"]
