"""MLflow runs for the training stages, nested under one run per pipeline invocation.

- Store: ``MLFLOW_TRACKING_URI``, by default ``sqlite:///results/mlflow.db`` (a local SQLite
  store under results/, no server; artifacts beside it in ``results/mlartifacts``).
- Experiment ``maac-{run}`` (the config's run name: demo and Clotho stay apart).
- Pipeline run: every Snakemake job of one ``snakemake`` invocation inherits the environment
  variable ``MAAC_PIPELINE_ID`` (set by the Snakefile when absent), and the first stage that
  starts creates the run tagged with it; later stages, separate processes, find it by that tag.
  A file lock beside the store makes the find-or-create atomic across concurrent jobs. A stage
  run by hand, without the variable, gets a pipeline run of its own.
- Stage run: params = the stage's config sections (flattened keys), metrics per epoch
  (step = epoch), tags = stage, variant, seed, git commit, config hash and the sha256 of the
  feature and text files used; artifact = the stage's ``metrics.json``. A resumed stage keeps
  logging into the run it started.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

DEFAULT_URI = "sqlite:///results/mlflow.db"
PIPELINE_ENV = "MAAC_PIPELINE_ID"
PIPELINE_TAG = "maac.pipeline_id"
ROLE_TAG = "maac.role"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def pipeline_id() -> str:
    """This pipeline invocation's id (inherited from Snakemake, or new for this process)."""
    if not os.environ.get(PIPELINE_ENV):
        os.environ[PIPELINE_ENV] = uuid.uuid4().hex
    return os.environ[PIPELINE_ENV]


def git_commit(cwd: Path | str = ".") -> str:
    """HEAD's commit, with ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def flatten(section: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} -> {"a.b": "1"} (MLflow params are flat strings)."""
    out: dict[str, str] = {}
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def _store_dir(uri: str) -> Path:
    """Where the lock file and (for SQLite) the artifacts live."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        path = uri.removeprefix("sqlite:///")
        return Path(path).resolve().parent
    return Path("results").resolve()


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".mlflow.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class MlflowTracker:
    """The MLflow run of one stage (see the module docstring)."""

    def __init__(self, run: str, run_name: str, params: dict[str, Any], tags: dict[str, str]):
        self.experiment = f"maac-{run}"
        self.run_name = run_name
        self.params = flatten(params)
        self.tags = {"mlflow.source.git.commit": git_commit(), **tags}
        self.uri = tracking_uri()
        self.pipeline = pipeline_id()
        self.client: Any = None
        self.run_id: str | None = None
        self.parent_id: str | None = None

    def start(self, run_id: str | None) -> str:
        """Create the stage's run (or reopen ``run_id`` when resuming); return its id."""
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        store = _store_dir(self.uri)
        with _locked(store):  # store creation and the parent's find-or-create, atomically
            self.client = MlflowClient(tracking_uri=self.uri)
            experiment = self.client.get_experiment_by_name(self.experiment)
            if experiment is None:
                exp_id = self.client.create_experiment(
                    self.experiment, artifact_location=(store / "mlartifacts").as_uri())
            else:
                exp_id = experiment.experiment_id
            self.parent_id = self._parent(exp_id)
        if run_id is not None and self._exists(run_id):
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        tags = {**self.tags, "mlflow.parentRunId": self.parent_id, ROLE_TAG: "stage",
                PIPELINE_TAG: self.pipeline}
        run = self.client.create_run(exp_id, tags=tags, run_name=self.run_name)
        self.run_id = run.info.run_id
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in sorted(self.params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])
        return self.run_id

    def _exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except Exception:  # deleted, or another store
            return False
        return True

    def _parent(self, exp_id: str) -> str:
        found = self.client.search_runs(
            [exp_id], filter_string=f"tags.`{PIPELINE_TAG}` = '{self.pipeline}' and "
                                    f"tags.`{ROLE_TAG}` = 'pipeline'", max_results=1)
        if found:
            return found[0].info.run_id
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        run = self.client.create_run(exp_id, run_name=f"pipeline {stamp}", tags={
            PIPELINE_TAG: self.pipeline, ROLE_TAG: "pipeline",
            "mlflow.source.git.commit": self.tags["mlflow.source.git.commit"]})
        return run.info.run_id

    def log_epoch(self, record: dict[str, Any], epoch: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, epoch) for k, v in record.items()
                   if k != "epoch" and isinstance(v, int | float) and not isinstance(v, bool)]
        if metrics and self.run_id:
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, metrics_path: Path | None, status: str) -> None:
        if self.client is None or self.run_id is None:
            return
        if metrics_path is not None and metrics_path.is_file():
            self.client.log_artifact(self.run_id, str(metrics_path))
        self.client.set_terminated(self.run_id, status)
        if self.parent_id:
            self.client.set_terminated(self.parent_id, status)
