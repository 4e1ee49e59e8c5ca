"""Peak memory and time of one training forward + backward pass of the full captioner on a CPU.

    .venv/bin/python benchmarks/model_memory.py [--config config/config.yaml] [--batch 2]
        [--frames 3001] [--pad 0.5]

Builds the captioner of the config (config.yaml: width 1, PANNs' ResNet38), feeds a batch of
log-mel features (3001 frames = 30 s, Clotho's longest clips), teacher-forced tokens and
multi-hot keyword targets, and runs forward + backward of caption CE + keyword BCE in training
mode. ``--pad F`` shortens every clip after the first to F of the frames, so the padded-batch
path (masked BatchNorm statistics) is measured. Peak memory is the process's peak resident set
size (``resource.getrusage``); run one measurement per process. ``--device cuda`` also reports
the GPU's peak allocated memory; ``--repeat N`` times the last of N passes (the first warms up).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maac.config import load_config  # noqa: E402
from maac.models.captioner import CaptionModel  # noqa: E402
from maac.models.keyword_encoder import keyword_loss  # noqa: E402

GIB = 1024**3


def peak_rss() -> int:
    """Peak resident set size of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=3001, help="3001 frames = 30 s")
    parser.add_argument("--pad", type=float, default=1.0,
                        help="clips after the first have this fraction of the frames")
    parser.add_argument("--tokens", type=int, default=22, help="caption length incl. BOS")
    parser.add_argument("--vocab-size", type=int, default=4368)
    parser.add_argument("--keywords", type=int, default=300)
    parser.add_argument("--variant", default="maac")
    parser.add_argument("--budget-gib", type=float, default=24.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1, help="passes; the last is timed")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    config = load_config(args.config)
    start = time.perf_counter()
    model = CaptionModel(config["encoder"], config["captioner"], args.vocab_size,
                      torch.arange(args.keywords) + 4, args.variant).train().to(device)
    build_s = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    rss_model = peak_rss()

    features = torch.randn(args.batch, args.frames, 64, device=device)
    lengths = torch.full((args.batch,), args.frames)
    lengths[1:] = int(args.frames * args.pad)
    tokens = torch.randint(0, args.vocab_size, (args.batch, args.tokens), device=device)
    targets = torch.randint(0, args.vocab_size, (args.batch, args.tokens), device=device)
    labels = (torch.rand(args.batch, args.keywords, device=device) < 0.02).float()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(args.repeat):
        model.zero_grad(set_to_none=True)
        sync()
        start = time.perf_counter()
        logits, enc = model(features, lengths.to(device), tokens)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten()) + keyword_loss(
            enc.logits, labels)
        sync()
        forward_s = time.perf_counter() - start
        start = time.perf_counter()
        loss.backward()
        sync()
        backward_s = time.perf_counter() - start
    peak = peak_rss()

    seconds_audio = float(lengths.sum()) / 100  # hop 320 at 32 kHz: 100 frames a second
    print(f"config {args.config}: width {config['encoder']['width']}, {params:,} parameters, "
          f"{torch.get_num_threads()} threads")
    print(f"batch {args.batch} x {args.frames} frames (lengths {lengths.tolist()}), "
          f"{args.tokens} tokens, variant {args.variant}")
    print(f"build            {build_s:8.2f} s")
    print(f"forward          {forward_s:8.2f} s")
    print(f"backward         {backward_s:8.2f} s")
    print(f"per audio second {1000 * (forward_s + backward_s) / seconds_audio:8.2f} ms "
          f"({seconds_audio:.0f} s of audio)")
    print(f"peak RSS, model  {rss_model / GIB:8.2f} GiB")
    print(f"peak RSS, pass   {peak / GIB:8.2f} GiB = {peak / (args.budget_gib * GIB):.2f} of "
          f"{args.budget_gib:g} GiB")
    if device.type == "cuda":
        print(f"GPU peak alloc   {torch.cuda.max_memory_allocated(device) / GIB:8.2f} GiB "
              f"({torch.cuda.get_device_name(device)})")


if __name__ == "__main__":
    main()
