"""The checkpoint file format: ``torch.save({"state_dict", "meta"})``, written atomically in
bytes that depend only on the content, read back with ``weights_only=True``.

The same content gives the same bytes (:func:`save_torch`), so a rerun that changes no weight
changes no checkpoint's hash. What a captioner's ``meta`` holds is :mod:`maac.models.captioner`'s.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from maac.atomic import atomic_file
from maac.errors import MaacError


def save_torch(obj: Any, path: Path | str) -> None:
    """``torch.save(obj)`` atomically, in bytes that depend only on ``obj``'s content.

    Saved through a file object: given a file name, ``torch.save`` names the zip's records
    after it (here the random temporary name). And pickled from a canonical copy: pickle
    writes an object met twice as a reference, so equal values made differently (a resumed
    stage's history, read back from its state, beside new records) would differ in bytes.
    """
    with atomic_file(path) as tmp, tmp.open("wb") as f:
        torch.save(_canonical(obj), f)


def _canonical(value: Any) -> Any:
    """Plain dicts, lists and tuples copied, strings interned: equal content, equal pickle."""
    kind = type(value)
    if kind is dict:
        return {_canonical(k): _canonical(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return kind(_canonical(v) for v in value)
    if kind is str:
        return sys.intern(value)
    return value  # tensors, numbers, state dicts (OrderedDict with their version metadata)


def save_checkpoint(path: Path | str, state_dict: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """``torch.save({"state_dict", "meta"})`` atomically; meta holds only plain values."""
    save_torch({"state_dict": state_dict, "meta": meta}, path)


def load_torch_file(path: Path | str, what: str, error: type[MaacError] = MaacError,
                    remedy: str = "make it again") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; ``error`` naming the file otherwise.

    The error is one line: torch's own text (many lines, suggesting an unsafe load) is left out.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    if path.stat().st_size == 0:
        raise error(f"{path}: the {what} is empty; {remedy}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors have many types
        raise error(f"{path}: not a {what} or damaged (it holds objects other than plain "
                    f"values and tensors, or is truncated); {remedy}") from err


def read_checkpoint(path: Path | str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The state dict and metadata written by :func:`save_checkpoint` (``weights_only=True``)."""
    blob = load_torch_file(path, "checkpoint")
    if not isinstance(blob, dict) or not {"state_dict", "meta"} <= set(blob):
        raise MaacError(f"{path}: not a maac checkpoint (expected 'state_dict' and 'meta')")
    return blob["state_dict"], blob["meta"]
