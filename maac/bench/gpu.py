"""GPU measurements on random inputs of Clotho's size, and the paper schedule's GPU-hours.

``maac bench gpu`` (under 10 minutes on one GPU): the keyword encoder's training step at full
width (batch 32, 30 s clips) in fp32 and in bf16 autocast, for the frozen phase (heads only)
and the finetune phase (everything); the encoder's inference; a training step of the real CE
and SCST recipes with the full-size decoder (32 synthetic 30 s clips with random captions,
cached encoder outputs); beam search of 1045 clips (Clotho's evaluation split). Each is timed
after warm-up with the device synchronised. The encoder's FLOPs come from
``torch.utils.flop_counter``; TFLOP/s are compared with the device's dense bf16 peak when it
is known. From these rates: the estimated GPU-hours of the paper's schedule
on Clotho development (3839 clips): encoder 80 frozen + 25 finetune epochs, CE 30, RL 55,
with per-epoch validation on 1045 clips. ``--quick`` runs tiny sizes on any device (a check
that the script works, not a measurement).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maac.bench.beam import random_captioner, random_encoder_outputs
from maac.bench.suite import PAPER_KEYWORDS, PAPER_VOCAB
from maac.bench.timing import machine
from maac.config import load_config
from maac.decoding.beam import beam_search
from maac.models.keyword_encoder import keyword_loss

TRAIN_CLIPS, EVAL_CLIPS, CAPTIONS_PER_CLIP = 3839, 1045, 5
SCHEDULE = {"encoder_frozen": 80, "encoder_finetune": 25, "captioner_ce": 30, "captioner_rl": 55}
# dense bf16 peaks by device-name fragment, most specific first
BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "H200": 989.0,
                    "A100": 312.0, "L40S": 362.0, "A10": 125.0}
TARGET_HOURS = 8.0
log = logging.getLogger(__name__)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], object], items: int, device: torch.device, steps: int) -> float:
    """Items per second of ``fn`` (median of ``steps`` timed calls after two warm-up calls)."""
    fn()
    fn()
    times = []
    for _ in range(steps):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return items / float(np.median(times))


def _peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)


def _encoder_rates(cfg: dict[str, Any], batch: int, seconds: float, device: torch.device,
                   steps: int) -> dict[str, Any]:
    from torch.utils.flop_counter import FlopCounterMode

    from maac.models.captioner import build_keyword_encoder

    encoder = build_keyword_encoder(cfg["encoder"], PAPER_KEYWORDS).to(device)
    frames = int(seconds * cfg["audio"]["sample_rate"] / cfg["audio"]["hop_length"]) + 1
    x = torch.randn(batch, frames, cfg["audio"]["n_mels"], device=device)
    lengths = torch.full((batch,), frames, device=device)
    targets = (torch.rand(batch, PAPER_KEYWORDS, device=device) < 0.03).float()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-4)

    def train_step(autocast: bool, frozen: bool) -> None:
        for p in encoder.trunk.parameters():
            p.requires_grad_(not frozen)
        encoder.train()
        if frozen:
            encoder.trunk.eval()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = keyword_loss(encoder(x, lengths).logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer(autocast: bool) -> None:
        encoder.eval()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            encoder(x, lengths)

    with FlopCounterMode(display=False) as counter:
        train_step(False, False)
    step_flops = counter.get_total_flops()
    bf16 = device.type == "cuda"
    out: dict[str, Any] = {"batch": batch, "clip_seconds": seconds,
                           "finetune_step_gflop_per_clip": step_flops / batch / 1e9}
    for name, autocast in (("fp32", False), ("bf16", True)):
        if autocast and not bf16:
            continue
        rate = _rate(lambda a=autocast: train_step(a, False), batch, device, steps)
        out[f"finetune_{name}_clips_per_s"] = rate
        out[f"finetune_{name}_tflops"] = rate * step_flops / batch / 1e12
    best = "bf16" if bf16 else "fp32"
    out["frozen_clips_per_s"] = _rate(lambda: train_step(bf16, True), batch, device, steps)
    out["inference_clips_per_s"] = _rate(lambda: infer(bf16), batch, device, steps)
    peak = _peak(device)
    out["bf16_peak_tflops"] = peak
    out["finetune_fraction_of_peak"] = (out[f"finetune_{best}_tflops"] / peak) if peak else None
    return out


def _decoder_rates(cfg: dict[str, Any], batch: int, seconds: float, beam_clips: int,
                   device: torch.device, steps: int, workdir: Path) -> dict[str, Any]:
    """The real CE and SCST recipes' training steps (cached encoder outputs of ``batch``
    synthetic clips, random captions over 4368 words), and beam search of ``beam_clips``."""
    from maac.bench.ce_cache import captioner_setup
    from maac.training.captioner_stage import CERecipe, SCSTRecipe

    settings, split, vocab, model = captioner_setup(
        cfg, float(cfg["encoder"]["width"]), batch, seconds, batch, PAPER_VOCAB, workdir)
    autocast = device.type == "cuda"

    def step_rate(recipe: Any) -> float:
        optimizer = torch.optim.Adam(recipe.trainable(), lr=1e-4)
        first = recipe.batches(0)[0]

        def step() -> None:
            recipe.train_mode()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss, _ = recipe.step(first, 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return _rate(step, len(first), device, steps)

    ce_rate = step_rate(CERecipe(settings, split, split, vocab, model, device, 0, cache=True))
    rl_rate = step_rate(SCSTRecipe(settings, split, split, vocab, model, device, 0, cache=True))

    model = random_captioner(cfg, PAPER_VOCAB, PAPER_KEYWORDS, seed=0).to(device)
    beam_enc = random_encoder_outputs(model, beam_clips, 30.0, seed=3, device=device)
    dec = cfg["decoding"]

    @torch.no_grad()
    def beam() -> None:
        model.eval()
        for start in range(0, beam_clips, 128):
            part = beam_enc.index_select(torch.arange(start, min(start + 128, beam_clips),
                                                      device=device))
            beam_search(model, part, int(dec["beam_size"]), int(dec["max_length"]),
                        float(dec["length_penalty"]))

    return {
        "ce_samples_per_s": ce_rate,
        "rl_clips_per_s": rl_rate,
        "beam_clips": beam_clips,
        "beam_clips_per_s": _rate(beam, beam_clips, device, max(1, steps // 5)),
    }


def schedule_hours(enc: dict[str, Any], dec: dict[str, Any]) -> dict[str, float]:
    """GPU-hours of the paper's schedule from the measured rates (validation included)."""
    best = "bf16" if "finetune_bf16_clips_per_s" in enc else "fp32"
    val_encoder = EVAL_CLIPS / enc["inference_clips_per_s"]
    val_captioner = EVAL_CLIPS / dec["beam_clips_per_s"]  # greedy is cheaper: an upper bound
    seconds = {
        "encoder_frozen": SCHEDULE["encoder_frozen"] * (
            TRAIN_CLIPS / enc["frozen_clips_per_s"] + val_encoder),
        "encoder_finetune": SCHEDULE["encoder_finetune"] * (
            TRAIN_CLIPS / enc[f"finetune_{best}_clips_per_s"] + val_encoder),
        "captioner_ce": (TRAIN_CLIPS + EVAL_CLIPS) / enc["inference_clips_per_s"]  # the cache
        + SCHEDULE["captioner_ce"] * (TRAIN_CLIPS * CAPTIONS_PER_CLIP / dec["ce_samples_per_s"]
                                      + val_captioner),
        "captioner_rl": SCHEDULE["captioner_rl"] * (TRAIN_CLIPS / dec["rl_clips_per_s"]
                                                    + val_captioner),
        "test_beam_search": EVAL_CLIPS / dec["beam_clips_per_s"],
    }
    hours = {k: v / 3600 for k, v in seconds.items()}
    hours["total"] = sum(hours.values())
    return hours


def run(config: Path, quick: bool = False, out: Path | None = None) -> dict[str, Any]:
    cfg = load_config(config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if quick:
        cfg["encoder"].update(width=0.125, head_dim=32, acoustic_dim=32)
        cfg["captioner"].update(embed_dim=32, hidden_dim=32, attention_dim=32)
        sizes = {"batch": 2, "seconds": 2.0, "beam_clips": 4, "steps": 1}
    else:
        sizes = {"batch": 32, "seconds": 30.0, "beam_clips": EVAL_CLIPS, "steps": 5}
    torch.manual_seed(0)
    log.info("device %s, sizes %s", device, sizes)
    enc = _encoder_rates(cfg, sizes["batch"], sizes["seconds"], device, sizes["steps"])
    log.info("encoder: %s", json.dumps(enc))
    with tempfile.TemporaryDirectory(prefix="maac-bench-gpu-") as tmp:
        dec = _decoder_rates(cfg, sizes["batch"], sizes["seconds"], sizes["beam_clips"], device,
                             sizes["steps"], Path(tmp))
    log.info("decoder: %s", json.dumps(dec))
    hours = schedule_hours(enc, dec)
    result = {"machine": machine(), "quick": quick, "encoder": enc, "decoder": dec,
              "schedule_gpu_hours": hours, "target_hours": TARGET_HOURS,
              "meets_target": hours["total"] <= TARGET_HOURS}
    if device.type == "cuda":
        result["machine"]["gpu"] = torch.cuda.get_device_name(device)
    if out is not None:
        from maac.atomic import atomic_file
        from maac.paths import gpu_bench_json

        path = gpu_bench_json(Path(out), quick)
        with atomic_file(path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
