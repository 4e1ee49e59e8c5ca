"""Shared fixtures: repository paths, a tiny demo config, and an environment for subprocesses."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLOTHO_REF = SHARED / "data" / "clotho_v2.1"

# Offline NLTK data for the tests (the guide's rule: NLTK_DATA points at shared/nltk_data here).
if "NLTK_DATA" not in os.environ and (SHARED / "nltk_data").is_dir():
    os.environ["NLTK_DATA"] = str(SHARED / "nltk_data")

needs_shared = pytest.mark.skipif(
    not CLOTHO_REF.is_dir(), reason=f"real Clotho reference data not present at {CLOTHO_REF}"
)


@pytest.fixture
def repo() -> Path:
    return REPO


def subprocess_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin/ (maac, snakemake) on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


@pytest.fixture
def cli_env() -> dict[str, str]:
    return subprocess_env()


@dataclass(frozen=True)
class TinyRun:
    """One real Snakemake run of the tiny demo (2 seeds of base and maac, 2 epochs a stage)."""

    work: Path  # the --directory: data/, results/tiny/, logs/
    cmd: list[str]  # the snakemake command line that made it (add --report FILE and the like)
    env: dict[str, str]  # its environment (MLflow store in work/results/mlflow.db)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The DAG run once per session, shared by the tests that read what it made (the training
    rules' outputs and MLflow runs, the report); a failed run fails each of them."""
    import subprocess

    from tests.test_training import tiny_config

    config = tiny_config(epochs=2)
    config["seeds"], config["variants"] = [1, 2], ["base", "maac"]  # intervals over seeds
    config["dataset"]["synth"].update(
        clips={"development": 8, "validation": 4, "evaluation": 4}, seconds=2.0)
    config["text"]["keywords"]["count"] = 10
    root = tmp_path_factory.mktemp("tiny_run")
    configfile = root / "tiny.yaml"
    configfile.write_text(yaml.safe_dump(config))
    work = root / "work"
    work.mkdir()
    env = {**subprocess_env(),
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'results' / 'mlflow.db'}"}
    env.pop("MAAC_PIPELINE_ID", None)
    snakefile = Path(os.environ.get("MAAC_SNAKEFILE", REPO / "Snakefile"))
    cmd = ["snakemake", "-s", str(snakefile), "--directory", str(work), "--cores", "2",
           "--configfile", str(configfile)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
    if result.returncode != 0:
        pytest.fail("the tiny run failed:\n" + result.stdout[-3000:] + result.stderr[-3000:])
    return TinyRun(work, cmd, env)


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture
def demo_config() -> dict:
    return load_yaml(REPO / "config" / "demo.yaml")


@pytest.fixture
def paper_config() -> dict:
    return load_yaml(REPO / "config" / "config.yaml")


@pytest.fixture
def tiny_config(tmp_path: Path, demo_config: dict) -> Path:
    """The demo config shrunk to seconds of work, written to tmp_path/tiny.yaml."""
    demo_config["run"] = "tiny"
    demo_config["dataset"]["name"] = "tiny"
    demo_config["dataset"]["synth"].update(
        clips={"development": 6, "validation": 4, "evaluation": 4}, seconds=2.0
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(demo_config), encoding="utf-8")
    return path


def data_targets(dataset: str) -> list[str]:
    """Snakemake targets of the data, feature and text layers of a dataset (the DAG without
    training, which tests/test_training_workflow.py runs on its own tiny config)."""
    splits = ("development", "validation", "evaluation")
    return [f"data/{layer}/{dataset}/{split}.{ext}" for layer, ext in (("manifest", "csv"),
            ("features", "h5")) for split in splits] + [f"data/text/{dataset}/vocab.json"]


def imported_modules(layer: str) -> dict[str, list[str]]:
    """Module names each file of ``maac/<layer>/`` imports (for the layering tests)."""
    import ast

    found = {}
    for path in sorted((REPO / "maac" / layer).glob("*.py")):
        names = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
        found[path.name] = names
    return found
