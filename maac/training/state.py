"""A stage's training state: what resumes it after a kill, and what refuses a foreign one.

``state.pt`` (and, once the stage ends, ``last.pt``) is ``torch.save`` of plain values and
tensors, readable with ``weights_only=True``: ``state_dict`` and ``meta`` (as every maac
checkpoint, so :func:`maac.models.checkpoint.read_checkpoint` reads it) and ``training``: the
optimizer, the scheduler, the RNG states of python, numpy and torch (as lists and tensors), the
number of finished epochs, the per-epoch history, the best epoch so far, the MLflow run id and
the stage's identity (stage name, config hash, vocabulary / keyword / input checkpoint hashes).
``last.pt`` drops the history's timings and the run id (``metrics.json`` keeps them), so that
two runs of the same config and seed write the same bytes.
A state whose identity differs from the stage's is refused: it was made with another config,
vocabulary or input model, and mixing the two would train neither.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maac.errors import MaacError
from maac.models.checkpoint import save_torch

STATE_FORMAT = "maac-training-state/1"


class TrainingStateError(MaacError):
    """A training state that cannot be resumed here."""


def file_sha256(path: Path | str) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state as lists and tensors (``weights_only``-loadable)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {"kind": kind, "keys": keys.tolist(), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], np.asarray(npy["keys"], dtype=np.uint32), npy["pos"],
                         npy["has_gauss"], npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: Path | str, state_dict: dict, meta: dict[str, Any],
               training: dict[str, Any]) -> None:
    """Write the training state atomically."""
    save_torch({"state_dict": state_dict, "meta": meta,
                "training": {"format": STATE_FORMAT, **training}}, path)


def load_state(path: Path | str, identity: dict[str, str]) -> dict[str, Any]:
    """Read a training state; refuse it unless it was made with ``identity``."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors have many types
        raise TrainingStateError(
            f"{path}: not a readable training state ({err}); delete it to start over") from err
    training = blob.get("training") if isinstance(blob, dict) else None
    if not isinstance(training, dict) or training.get("format") != STATE_FORMAT:
        raise TrainingStateError(f"{path}: not a maac training state; delete it to start over")
    theirs = training.get("identity", {})
    differ = sorted(k for k in set(identity) | set(theirs) if identity.get(k) != theirs.get(k))
    if differ:
        detail = ", ".join(f"{k} {str(theirs.get(k))[:12]} != {str(identity.get(k))[:12]}"
                           for k in differ)
        raise TrainingStateError(
            f"{path}: this training state was made with another config, vocabulary or input "
            f"model ({detail}); it cannot be resumed. Restore what it was made with, or delete "
            "it to train this stage from the start"
        )
    return blob
