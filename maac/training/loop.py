"""The one training loop every stage shares (paper: Adam, learning rate x0.98 per epoch).

A stage is a :class:`Recipe` (its model, batches, loss and validation); :func:`train` runs it:
Adam on the recipe's trainable parameters, ``ExponentialLR(lr_decay)`` stepped once per epoch,
gradient-norm clipping, bf16 autocast on a GPU, a progress bar per epoch (loss, samples/s),
validation after every epoch, ``best.pt`` whenever the stage's validation metric improves.

The stage's files (:class:`StageOutputs`, each named by its rule; conventionally one folder's
``state.pt``, ``best.pt``, ``last.pt`` and ``metrics.json``):
- ``state.pt``: after every epoch, atomically (model, optimizer, scheduler, RNG states, epoch,
  history, identity: see :mod:`maac.training.state`). A rerun of a killed stage resumes from
  it, and ends with exactly the weights of an uninterrupted run (CPU, same threads).
- ``best.pt``: the recipe's checkpoint at its best validation epoch.
- ``metrics.json``: per-epoch history, best epoch and value, timings, the MLflow run id; then
  ``state.pt`` is rewritten as ``last.pt`` without the timings and the run id, so a state file
  exists only while a stage is unfinished.
Timings and run ids are in ``metrics.json`` only: ``best.pt`` and ``last.pt`` hold nothing
that varies between two runs of the same config and seed, so they are equal byte for byte
(and a rerun that changes no weight gives DVC the same hash).
A NaN or infinite loss or gradient stops the stage with its epoch and batch; the last good
``state.pt`` stays.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn as nn
from torch import Tensor

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.models.checkpoint import save_checkpoint
from maac.training.settings import LoopSettings
from maac.training.state import load_state, rng_state, save_state, set_rng_state

OPTIMIZERS = {"adam": torch.optim.Adam}  # training.optimizer: [paper] Adam
TIMINGS = ("samples_per_s", "train_seconds")  # per-epoch keys that vary from run to run


class TrainingError(MaacError):
    """A stage that cannot go on (NaN loss, ...); finished checkpoints stay intact."""


class Recipe(ABC):
    """One training stage: its model, batches, loss and validation."""

    model: nn.Module

    @abstractmethod
    def trainable(self) -> list[nn.Parameter]:
        """The parameters the optimizer updates."""

    def train_mode(self) -> None:
        """Put the modules in the modes this stage trains in (frozen parts in eval mode)."""
        self.model.train()

    @abstractmethod
    def batches(self, epoch: int) -> Sequence[Any]:
        """The epoch's training batches (an order that depends only on the seed and epoch)."""

    @abstractmethod
    def step(self, batch: Any, epoch: int) -> tuple[Tensor, int]:
        """The loss of one batch and its number of samples."""

    @abstractmethod
    def validate(self) -> dict[str, float]:
        """Validation metrics (eval mode); must hold the stage's metric."""

    def restore(self, state_dict: dict[str, Tensor]) -> None:
        """Load the weights of a saved training state (:meth:`checkpoint`'s state dict)."""
        self.model.load_state_dict(state_dict)

    @abstractmethod
    def checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """(state dict, metadata) of the model as ``best.pt`` / ``last.pt`` hold it."""


class Tracker(Protocol):
    """Run tracking (MLflow: :mod:`maac.tracking`), or nothing."""

    def start(self, run_id: str | None) -> str | None: ...
    def log_epoch(self, record: dict[str, Any], epoch: int) -> None: ...
    def finish(self, metrics_path: Path | None, status: str) -> None: ...


class NoTracker:
    def start(self, run_id: str | None) -> str | None:
        return None

    def log_epoch(self, record: dict[str, Any], epoch: int) -> None:
        pass

    def finish(self, metrics_path: Path | None, status: str) -> None:
        pass


@dataclass(frozen=True)
class StageOutputs:
    """The files a stage writes, as its rule declares them (``state``: the training state
    while it runs, removed when it finishes; a rerun resumes from it)."""

    best: Path
    last: Path
    metrics: Path
    state: Path


@dataclass
class LoopConfig:
    stage: str  # e.g. "encoder_frozen"
    loop: LoopSettings  # epochs, lr, optimizer, lr_decay, grad_clip
    metric: str  # validation metric to maximise
    outputs: StageOutputs
    device: torch.device
    identity: dict[str, str] = field(default_factory=dict)
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # written into metrics.json


def _bar(batches: Sequence[Any], desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(batches, desc=desc, unit="batch", disable=not enabled, mininterval=1.0,
                dynamic_ncols=True)


def train(recipe: Recipe, cfg: LoopConfig, tracker: Tracker | None = None) -> dict[str, Any]:
    """Run (or resume) a stage; return the summary also written to ``metrics.json``."""
    tracker = tracker or NoTracker()
    out = cfg.outputs
    for path in {out.best.parent, out.last.parent, out.metrics.parent, out.state.parent}:
        path.mkdir(parents=True, exist_ok=True)
    state_path = out.state
    params = recipe.trainable()
    optimizer = OPTIMIZERS[cfg.loop.optimizer](params, lr=cfg.loop.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.loop.lr_decay)
    autocast = cfg.device.type == "cuda"

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": 0, "value": -math.inf}
    start, run_id = 0, None
    saved: dict[str, Any] | None = None  # the training state last written (or resumed)
    if state_path.is_file():
        saved = blob = load_state(state_path, cfg.identity)
        training = blob["training"]
        recipe.restore(blob["state_dict"])
        optimizer.load_state_dict(training["optimizer"])
        scheduler.load_state_dict(training["scheduler"])
        set_rng_state(training["rng"])
        start, history, best = training["epoch"], training["history"], training["best"]
        run_id = training.get("run_id")
        print(f"{cfg.stage}: resuming after epoch {start} from {state_path}", flush=True)
    run_id = tracker.start(run_id)

    try:
        if cfg.loop.epochs == 0 and start == 0:  # nothing to train: the input model is the result
            record = {"epoch": 0, **recipe.validate()}
            history.append(record)
            best = {"epoch": 0, "value": record[cfg.metric]}
            _save_best(recipe, out.best, record, cfg)
            tracker.log_epoch(record, 0)
        for epoch in range(start, cfg.loop.epochs):
            record = _epoch(recipe, cfg, epoch, optimizer, scheduler, params, autocast)
            record.update(recipe.validate())
            history.append(record)
            if record[cfg.metric] > best["value"]:
                best = {"epoch": epoch + 1, "value": record[cfg.metric]}
                _save_best(recipe, out.best, record, cfg)
            state_dict, meta = recipe.checkpoint()
            saved = {"state_dict": state_dict, "meta": meta, "training": {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng_state(), "epoch": epoch + 1, "history": history, "best": best,
                "identity": cfg.identity, "run_id": run_id,
            }}
            save_state(state_path, saved["state_dict"], saved["meta"], saved["training"])
            tracker.log_epoch(record, epoch + 1)
            shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items()
                              if k != "epoch" and isinstance(v, float))
            print(f"{cfg.stage} epoch {epoch + 1}/{cfg.loop.epochs}: {shown}", flush=True)
        summary = {**_summary(cfg, history, best), "run_id": run_id}  # the stage's MLflow run
        with atomic_file(out.metrics) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if saved is not None:
            save_state(out.last, saved["state_dict"], saved["meta"],
                       _reproducible(saved["training"]))
            state_path.unlink(missing_ok=True)
        else:  # epochs == 0: the input model is also the last one
            state_dict, meta = recipe.checkpoint()
            save_checkpoint(out.last, state_dict, meta)
    except BaseException:
        tracker.finish(None, "FAILED")
        raise
    tracker.finish(out.metrics, "FINISHED")
    print(f"{cfg.stage}: best {cfg.metric} {best['value']:.4f} at epoch {best['epoch']}; "
          f"{summary['samples_per_s']:.1f} samples/s; outputs {out.best}, {out.last}, "
          f"{out.metrics}", flush=True)
    return summary


def _epoch(recipe: Recipe, cfg: LoopConfig, epoch: int, optimizer: torch.optim.Optimizer,
           scheduler: torch.optim.lr_scheduler.LRScheduler, params: list[nn.Parameter],
           autocast: bool) -> dict[str, Any]:
    """One training epoch; returns its loss, learning rate, samples/s and seconds."""
    recipe.train_mode()
    batches = recipe.batches(epoch)
    lr = optimizer.param_groups[0]["lr"]
    total_loss, samples, begin = 0.0, 0, time.perf_counter()
    bar = _bar(batches, f"{cfg.stage} {epoch + 1}/{cfg.loop.epochs}", cfg.progress)
    for b, batch in enumerate(bar, 1):
        with torch.autocast(cfg.device.type, dtype=torch.bfloat16, enabled=autocast):
            loss, n = recipe.step(batch, epoch)
        value = float(loss.detach())
        if not math.isfinite(value):
            _stop(cfg, epoch, b, len(batches), f"the loss is {value}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.loop.grad_clip))
        if not math.isfinite(norm):
            _stop(cfg, epoch, b, len(batches), f"the gradient norm is {norm}")
        optimizer.step()
        total_loss += value * n
        samples += n
        rate = samples / max(time.perf_counter() - begin, 1e-9)
        bar.set_postfix(loss=f"{total_loss / samples:.4f}", samples_s=f"{rate:.1f}")
    bar.close()
    scheduler.step()
    seconds = time.perf_counter() - begin
    return {"epoch": epoch + 1, "train_loss": total_loss / max(samples, 1), "lr": lr,
            "samples_per_s": samples / max(seconds, 1e-9), "train_seconds": seconds}


def _stop(cfg: LoopConfig, epoch: int, batch: int, batches: int, what: str) -> None:
    state = cfg.outputs.state
    kept = (f"the last good checkpoint {state} (after epoch {epoch}) is kept" if epoch
            and state.is_file() else "no epoch had finished, so there is no checkpoint")
    raise TrainingError(
        f"{cfg.stage}: {what} at epoch {epoch + 1}, batch {batch}/{batches}; stopped, and "
        f"{kept}. Lower the learning rate or check the inputs, then rerun to resume"
    )


def _without_timings(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in TIMINGS}


def _reproducible(training: dict[str, Any]) -> dict[str, Any]:
    """A finished stage's training state for ``last.pt``: no timings, no MLflow run id."""
    return {**{k: v for k, v in training.items() if k != "run_id"},
            "history": [_without_timings(r) for r in training["history"]]}


def _save_best(recipe: Recipe, path: Path, record: dict[str, Any], cfg: LoopConfig) -> None:
    state_dict, meta = recipe.checkpoint()
    meta = {**meta, "stage": cfg.stage, "epoch": record["epoch"], "validation": {
        k: v for k, v in _without_timings(record).items() if isinstance(v, float | int)}}
    save_checkpoint(path, state_dict, meta)


def _summary(cfg: LoopConfig, history: list[dict[str, Any]], best: dict[str, Any]) -> dict:
    trained = [r for r in history if "train_seconds" in r]
    seconds = sum(r["train_seconds"] for r in trained)
    samples = sum(r["samples_per_s"] * r["train_seconds"] for r in trained)
    at_best = next((r for r in history if r["epoch"] == best["epoch"]), {})
    interval = {"best_interval": [at_best[f"{cfg.metric}_low"], at_best[f"{cfg.metric}_high"]]
                } if f"{cfg.metric}_low" in at_best else {}  # over validation clips
    return {
        "stage": cfg.stage,
        "metric": cfg.metric,
        "best_epoch": best["epoch"],
        "best": best["value"],
        **interval,
        "final": history[-1] if history else {},
        "epochs": cfg.loop.epochs,
        "train_seconds": seconds,
        "samples_per_s": samples / seconds if seconds else 0.0,
        "device": cfg.device.type,
        "identity": cfg.identity,
        **cfg.extra,
        "history": history,
    }
