"""Beam search: our batched search vs the same model decoded clip by clip.

Baseline: :func:`maac.decoding.reference_beam.beam_search_reference`, a straightforward
priority-queue beam on the step API, one clip and one hypothesis per step call. Ours:
:func:`maac.decoding.beam.beam_search`, every clip's beams in one batch per step. Both decode
the same encoder outputs with the same model (random weights, the classifier scaled so that
the next-word distributions are peaked like a trained model's) and must give identical
captions. Encoding is not timed: both sides get the encoder's outputs.
"""

from __future__ import annotations

from typing import Any

import torch

from maac.bench.timing import alternate, speed_result
from maac.decoding.beam import beam_search
from maac.decoding.reference_beam import beam_search_reference
from maac.errors import MaacError
from maac.models.captioner import CaptionModel
from maac.models.keyword_encoder import EncoderOutput
from maac.text.vocabulary import EOS_ID

FRAMES_PER_SECOND = 100 / 32  # log-mel frames (hop 10 ms) pooled 32x in time by ResNet38


def random_captioner(config: dict[str, Any], vocab_size: int, keywords: int, seed: int
                     ) -> CaptionModel:
    """A captioner of the config's sizes with random, peaked weights, in eval mode."""
    from maac.training.settings import CAPTIONER_ARCH, ENCODER_ARCH

    torch.manual_seed(seed)
    enc = {k: config["encoder"][k] for k in ENCODER_ARCH}
    cap = {k: config["captioner"][k] for k in CAPTIONER_ARCH}
    keyword_ids = list(range(4, 4 + keywords))
    model = CaptionModel(enc, cap, vocab_size, keyword_ids, "maac").eval()
    with torch.no_grad():
        model.decoder.classifier.weight.mul_(8.0)
        model.decoder.classifier.bias[EOS_ID] += 1.2  # varied lengths, 12-19 tokens on average
    return model


def random_encoder_outputs(model: CaptionModel, clips: int, seconds: float, seed: int,
                           device: torch.device | None = None) -> EncoderOutput:
    """Encoder outputs of the model's shapes for ``clips`` clips of 0.5-1x ``seconds``."""
    g = torch.Generator().manual_seed(seed)
    keywords = int(model.meta["num_keywords"])
    width = int(model.encoder.sequence_dim)
    frames = max(2, round(seconds * FRAMES_PER_SECOND))
    lengths = torch.randint(frames // 2, frames + 1, (clips,), generator=g)
    mask = torch.arange(frames)[None, :] < lengths[:, None]
    sequence = torch.randn(clips, frames, width, generator=g).relu() * mask[..., None]
    logits = 2.0 * torch.randn(clips, keywords, generator=g)
    return EncoderOutput(*(t.to(device) for t in (logits, logits.sigmoid(), sequence, mask)))


def run(config: dict[str, Any], label: str, clips: int, seconds: float, vocab_size: int,
        keywords: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    dec = config["decoding"]
    beam, max_length, penalty = int(dec["beam_size"]), int(dec["max_length"]), float(
        dec["length_penalty"])
    model = random_captioner(config, vocab_size, keywords, seed)
    enc = random_encoder_outputs(model, clips, seconds, seed + 1)
    with torch.inference_mode():
        ours = beam_search(model, enc, beam, max_length, penalty)
        reference = beam_search_reference(model, enc, beam, max_length, penalty)
        if not (torch.equal(ours.tokens, reference.tokens)
                and torch.equal(ours.lengths, reference.lengths)):
            differ = int((ours.tokens != reference.tokens).any(dim=1).sum())
            raise MaacError(f"beam search ({label}): {differ} of {clips} captions differ from "
                            "the clip-by-clip reference search")
        times = alternate(
            lambda: beam_search_reference(model, enc, beam, max_length, penalty),
            lambda: beam_search(model, enc, beam, max_length, penalty), repeats)
    return speed_result(
        f"beam search, beam {beam}, {clips} {label} clips",
        "the same model, clip by clip, priority-queue beam on the step API",
        "all clips' beams batched in one step call", "clips/s", clips, times, 8.0,
        f"identical captions ({clips} clips, mean {float(ours.lengths.float().mean()):.1f} "
        "tokens)", vocabulary=vocab_size, clip_seconds=seconds, repeats=repeats)
