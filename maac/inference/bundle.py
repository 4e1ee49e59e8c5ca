"""A model bundle: one file with everything needed to caption audio.

``torch.save`` of a dict of plain values and tensors (so it loads with ``weights_only=True``):
the captioner's weights and metadata, the vocabulary, the keyword list (rank order), the
front-end and decoding config sections, and a sha256 of each part. Loading recomputes the sums
and checks the parts against each other (vocabulary size, keyword count, keyword ids), so a
bundle assembled from mismatching parts is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from maac.errors import MaacError
from maac.models.captioner import (
    Captioner,
    captioner_from_state,
    load_torch_file,
    read_checkpoint,
    save_torch,
)
from maac.text.keywords import KeywordTable
from maac.text.vocabulary import Vocabulary

FORMAT = "maac-bundle/1"


class BundleError(MaacError):
    """A bundle that is unreadable, corrupt, or whose parts do not belong together."""


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _sha256_weights(state_dict: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        digest.update(key.encode())
        digest.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class Bundle:
    model: Captioner
    vocab: Vocabulary
    keywords: list[str]
    audio: dict[str, Any]
    decoding: dict[str, Any]
    meta: dict[str, Any]


def write_bundle(
    checkpoint: Path | str, vocab_path: Path | str, keywords_path: Path | str,
    audio_cfg: dict[str, Any], decoding_cfg: dict[str, Any], out: Path | str,
) -> None:
    """Pack a trained captioner with its vocabulary, keywords and configs into ``out``."""
    state_dict, meta = read_checkpoint(checkpoint)
    vocab = Vocabulary.load(vocab_path).to_json()
    keywords = KeywordTable.load(keywords_path).words
    parts = {"vocab": vocab, "keywords": keywords, "audio": audio_cfg, "decoding": decoding_cfg}
    blob = {
        "format": FORMAT,
        "state_dict": state_dict,
        "meta": meta,
        **parts,
        "sha256": {"weights": _sha256_weights(state_dict),
                   **{k: _sha256_json(v) for k, v in parts.items()}},
    }
    _check(blob, str(out))
    save_torch(blob, out)  # the same parts give the same bytes


def _check(blob: dict[str, Any], source: str) -> Bundle:
    sums = blob.get("sha256", {})
    parts = {"vocab": blob["vocab"], "keywords": blob["keywords"], "audio": blob["audio"],
             "decoding": blob["decoding"]}
    bad = [k for k, v in parts.items() if sums.get(k) != _sha256_json(v)]
    if sums.get("weights") != _sha256_weights(blob["state_dict"]):
        bad.append("weights")
    if bad:
        raise BundleError(f"{source}: checksum mismatch in {', '.join(bad)}; the bundle is "
                          "corrupt, rebuild it (snakemake results/.../model.bundle)")
    vocab = Vocabulary.from_json(blob["vocab"], source)
    meta = blob["meta"]
    if meta["vocab_size"] != len(vocab) or meta["num_keywords"] != len(blob["keywords"]):
        raise BundleError(
            f"{source}: the model has {meta['vocab_size']} words and {meta['num_keywords']} "
            f"keywords but the bundle's vocabulary has {len(vocab)} and its keyword list "
            f"{len(blob['keywords'])}; rebuild the bundle from the model's own text artifacts"
        )
    ids = [vocab.word_to_id.get(w, -1) for w in blob["keywords"]]
    if ids != blob["state_dict"]["decoder.keyword_ids"].tolist():
        raise BundleError(f"{source}: the keyword list does not match the model's keyword ids; "
                          "rebuild the bundle from the model's own text artifacts")
    return Bundle(None, vocab, list(blob["keywords"]), dict(blob["audio"]),  # type: ignore[arg-type]
                  dict(blob["decoding"]), meta)


def read_bundle(path: Path | str) -> Bundle:
    """Load and verify a bundle (``weights_only=True``); the model is in eval mode on the CPU."""
    path = Path(path)
    blob = load_torch_file(path, "model bundle", BundleError)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise BundleError(f"{path}: not a maac model bundle (expected format {FORMAT})")
    bundle = _check(blob, str(path))
    bundle.model = captioner_from_state(blob["state_dict"], blob["meta"], str(path),
                                        len(bundle.vocab), len(bundle.keywords))
    bundle.model.eval()
    return bundle
