"""CE epoch: the frozen encoder's outputs cached vs the encoder run on every batch.

Stage 2 trains only the decoder; the keyword encoder is frozen in eval mode and, without input
augmentation, gives every clip the same outputs in every epoch. With ``cache_encoder`` they are
computed once per stage (timed separately here as ``cache_build_s``) and each epoch runs the
decoder only. Both sides train one epoch from the same weights with the same random draws
(dropout, scheduled sampling): their per-batch losses must agree to 1e-4 (the cached outputs
were encoded in other batches, so padding changes float rounding only).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maac.bench.frontend import synthetic_clips
from maac.bench.timing import alternate, speed_result
from maac.errors import MaacError

N_KEYWORDS = 300


def _split(folder: Path, clips: int, seconds: float, vocab_size: int, audio_cfg: dict[str, Any],
           seed: int) -> Any:
    from maac.audio.feature_store import FeatureStore, write_features
    from maac.data.manifest import Clip
    from maac.training.batches import Split

    paths = synthetic_clips(folder / "audio", clips, seed, (seconds, seconds))
    rng = np.random.default_rng(seed)
    captions = [[[1, *rng.integers(4, vocab_size, rng.integers(8, 20)).tolist(), 2]
                 for _ in range(5)] for _ in paths]
    entries = [Clip("development", p.name, p, ("",) * 5) for p in paths]
    write_features(entries, folder / "features.h5", audio_cfg, "bench", progress=False)
    store = FeatureStore(folder / "features.h5")
    return Split("development", store, [p.name for p in paths], list(range(len(paths))),
                 store.lengths, None, captions)


def _epoch(recipe: Any, seed: int) -> list[float]:
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(recipe.trainable(), lr=1e-4)
    recipe.train_mode()
    losses = []
    for batch in recipe.batches(0):
        loss, _ = recipe.step(batch, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def captioner_setup(config: dict[str, Any], width: float, clips: int, seconds: float,
                    batch: int, vocab_size: int, workdir: Path, seed: int = 0
                    ) -> tuple[dict[str, Any], Any, Any, Any]:
    """(settings, split, vocabulary, new captioner) for running the real CE / RL recipes on
    ``clips`` synthetic clips with random captions over words w0, w1, ..."""
    from maac.models.captioner import CaptionModel
    from maac.text.vocabulary import Vocabulary
    from maac.training.settings import CAPTIONER_ARCH, ENCODER_ARCH

    split = _split(workdir, clips, seconds, vocab_size, config["audio"], seed)
    vocab = Vocabulary.build([" ".join(f"w{i}" for i in range(vocab_size - 4))])
    keywords = min(N_KEYWORDS, len(vocab) - 4)
    settings = copy.deepcopy(config)
    settings["training"]["batch_size"] = batch
    for phase in ("ce", "rl"):  # the cached path: SpecAugment would encode every batch anew
        settings["captioner"][phase]["specaugment"] = False
    enc = {**{k: config["encoder"][k] for k in ENCODER_ARCH}, "width": width}
    cap = {k: config["captioner"][k] for k in CAPTIONER_ARCH}
    torch.manual_seed(seed)
    model = CaptionModel(enc, cap, len(vocab), list(range(4, 4 + keywords)), "maac")
    return settings, split, vocab, model


def run(config: dict[str, Any], width: float, clips: int, seconds: float, batch: int,
        vocab_size: int, repeats: int, workdir: Path, seed: int = 0) -> dict[str, Any]:
    from maac.training.captioner_stage import CERecipe

    settings, split, vocab, model = captioner_setup(config, width, clips, seconds, batch,
                                                    vocab_size, workdir, seed)
    initial = copy.deepcopy(model.state_dict())
    device = torch.device("cpu")

    start = time.perf_counter()  # caches the training and the validation split (here the same)
    cached = CERecipe(settings, split, split, vocab, model, device, seed, cache=True)
    cache_build_s = time.perf_counter() - start
    direct = CERecipe(settings, split, split, vocab, model, device, seed, cache=False)

    cached_losses = _epoch(cached, seed)
    model.load_state_dict(initial)
    direct_losses = _epoch(direct, seed)
    rel = float(np.max(np.abs(np.subtract(cached_losses, direct_losses))
                       / np.abs(direct_losses)))
    if rel > 1e-4:
        raise MaacError(f"CE epoch with cached encoder outputs: losses differ from the "
                        f"uncached epoch's by {rel:.2e} relative (limit 1e-4)")
    times = alternate(lambda: _epoch(direct, seed), lambda: _epoch(cached, seed), repeats)
    return speed_result(
        f"CE epoch, encoder width {width:g}, {clips} clips of {seconds:g} s",
        "the frozen encoder run on every batch",
        "the encoder's outputs cached once per stage (cache_encoder: true)", "samples/s",
        5 * clips, times, 10.0,
        f"equal losses over {len(cached_losses)} batches (max relative diff {rel:.1e}, "
        "limit 1e-4)", cache_build_s=cache_build_s, repeats=repeats)
