"""Checkpoints are byte-identical across two runs of the same config and seed on one machine.

Two tiny runs (encoder frozen and finetune, captioner CE and RL, the model bundle), each in its
own fresh folder and its own process, with MLflow tracking on in stage 1 (a new run id each
time), must write the same bytes into every ``best.pt``, ``last.pt`` and ``model.bundle``.
Timings and run ids stay in ``metrics.json``. A rerun of a finished stage rewrites the same
bytes, so DVC sees no new hash.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from tests.test_training import make_dataset, stage_args, stage_files, tiny_config

COMMON = ["--config", "tiny.yaml", "--threads", "1", "--device", "cpu", "--no-progress"]
UNTRACKED = [*COMMON, "--no-tracking"]  # MLflow costs ~10 s a stage here: in stage 1 only


def _files(stage: str) -> list[str]:
    """The files the rule of ``stage`` (maac seed 1) names, as ``maac train`` options."""
    files = stage_files(tiny_config(epochs=2), stage)
    return stage_args(files, "labels" if stage.startswith("encoder_") else "captions")


STAGES = [
    ["train", "encoder", "--phase", "frozen", *_files("encoder_frozen"), *COMMON],
    ["train", "encoder", "--phase", "finetune", *_files("encoder_finetune"), *UNTRACKED],
    ["train", "captioner", "--phase", "ce", "--variant", "maac", "--seed", "1",
     *_files("captioner_ce"), *UNTRACKED],
    ["train", "captioner", "--phase", "rl", "--variant", "maac", "--seed", "1",
     *_files("captioner_rl"), "--encoder", "results/tiny/encoder/finetune/best.pt",
     *UNTRACKED],
    ["bundle", "--checkpoint", "results/tiny/maac/seed1/rl/best.pt", "--vocab",
     "data/text/tiny/vocab.json", "--keywords", "data/text/tiny/keywords.csv", "--config",
     "tiny.yaml", "--out", "results/tiny/maac/seed1/model.bundle"],
]
# One process per run, the stages through the real entry point one after another.
DRIVER = ("import json, sys\nfrom maac.cli.main import main\n"
          "for argv in json.loads(sys.argv[1]):\n"
          "    if main(argv):\n        sys.exit(f'failed: {argv}')\n")


def _run(root: Path, stages: list[list[str]], env: dict[str, str]) -> None:
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    env.pop("MAAC_PIPELINE_ID", None)
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(stages)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _fresh_run(root: Path, env: dict[str, str]) -> None:
    root.mkdir()
    make_dataset(root)
    (root / "tiny.yaml").write_text(yaml.safe_dump(tiny_config(epochs=2)), encoding="utf-8")
    _run(root, STAGES, env)


def _checkpoints(root: Path) -> dict[str, str]:
    files = sorted([*root.glob("results/**/*.pt"), *root.glob("results/**/*.bundle")])
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files}


def test_two_runs_in_fresh_folders_write_byte_identical_checkpoints(
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _fresh_run(a, cli_env)
    _fresh_run(b, cli_env)
    ours = _checkpoints(a)
    stages = ["encoder/frozen", "encoder/finetune", "maac/seed1/ce", "maac/seed1/rl"]
    assert set(ours) == {f"results/tiny/{s}/{f}" for s in stages for f in ("best.pt", "last.pt")
                         } | {"results/tiny/maac/seed1/model.bundle"}
    assert ours == _checkpoints(b)

    # What differs between the two runs is in metrics.json only: timings and run ids.
    metrics = [json.loads((r / "results/tiny/encoder/frozen/metrics.json").read_text())
               for r in (a, b)]
    assert metrics[0]["run_id"] and metrics[0]["run_id"] != metrics[1]["run_id"]
    assert all("train_seconds" in e and "samples_per_s" in e for e in metrics[0]["history"])

    # A rerun of a finished stage that changes no weight rewrites the same bytes.
    frozen = {k: v for k, v in ours.items() if "/frozen/" in k}
    _run(a, STAGES[:1], cli_env)
    assert {k: v for k, v in _checkpoints(a).items() if "/frozen/" in k} == frozen


def test_old_checkpoints_that_still_hold_timings_load(tmp_path: Path) -> None:
    """Checkpoints written before this change carried timings in ``meta['validation']`` and
    ``training['history']``, and the run id: extra plain values that nothing reads, so they
    load as before (no retraining needed)."""
    from maac.models.captioner import CaptionModel, load_captioner
    from maac.models.checkpoint import read_checkpoint

    cfg = tiny_config()
    model = CaptionModel(cfg["encoder"], cfg["captioner"], 20, [4, 5, 6, 7, 8, 9])
    timings = {"samples_per_s": 88.3, "train_seconds": 0.14}
    meta = {**model.meta, "stage": "captioner_ce", "epoch": 1,
            "validation": {"epoch": 1, "train_loss": 2.5, "val_cider_d": 0.1, **timings}}
    old = tmp_path / "old.pt"
    torch.save({"state_dict": model.state_dict(), "meta": meta,
                "training": {"history": [{"epoch": 1, **timings}], "run_id": "abc"}}, old)
    loaded, loaded_meta = load_captioner(old, 20, 6)
    assert loaded_meta["validation"]["train_seconds"] == 0.14
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert read_checkpoint(old)[1]["epoch"] == 1
