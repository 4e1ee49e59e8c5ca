"""Parameter counts of the captioner per component, with the paper's equation of each."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from maac.models.captioner import CaptionModel


def _count(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def parameter_rows(
    config: dict[str, Any], vocab_size: int, num_keywords: int, variant: str = "maac"
) -> list[tuple[str, str, str, int]]:
    """(component, module, equation, parameters) per component of the captioner, and a total.

    The model is built on the meta device: no memory is allocated and no weights are drawn.
    """
    with torch.device("meta"):
        model = CaptionModel(config["encoder"], config["captioner"], vocab_size,
                          torch.arange(num_keywords) % vocab_size, variant,
                          config["audio"]["n_mels"])
    enc, dec = model.encoder, model.decoder
    what = "keywords + previous words, shared" if variant == "maac" else variant.replace("_", " ")
    labels = {"semantic_attention": f"semantic attention ({what})",
              "keyword_attention": "semantic attention (keywords)",
              "word_attention": "semantic attention (previous words)"}
    semantic = [name for name in labels if hasattr(dec, name)]
    rows = [
        ("ResNet38 trunk (bn0 .. conv_block_after1)", "encoder.trunk", "Eq. 1", _count(enc.trunk)),
        ("keyword heads (3 levels -> head_dim)", "encoder.heads", "Eq. 1", _count(enc.heads)),
        ("keyword classifier (-> N keywords)", "encoder.classifier", "Eq. 2",
         _count(enc.classifier)),
        ("acoustic projection X -> X^", "decoder.acoustic_proj", "Eq. 3",
         _count(dec.acoustic_proj)),
    ]
    rows += [(label, f"decoder.{name}", "Eq. 3", _count(getattr(dec, name)))
             for name, label in (("keyword_proj", "keyword projection W -> W^"),
                                 ("word_proj", "previous-word projection P -> P^"))
             if hasattr(dec, name)]
    rows += [
        ("word embedding", "decoder.embedding", "Eq. 6", _count(dec.embedding)),
        ("acoustic attention", "decoder.acoustic_attention", "Eq. 3-5",
         _count(dec.acoustic_attention)),
    ]
    rows += [(labels[name], f"decoder.{name}", "Eq. 3-5",
              _count(getattr(dec, name))) for name in semantic]
    rows += [
        ("LSTM", "decoder.lstm", "Eq. 6", _count(dec.lstm)),
        ("word classifier", "decoder.classifier", "Eq. 7", _count(dec.classifier)),
    ]
    total = _count(model)
    if sum(r[3] for r in rows) != total:
        raise AssertionError("the parameter table misses a module of the captioner")
    rows += [
        ("keyword encoder", "encoder", "Eq. 1-2", _count(enc)),
        ("decoder", "decoder", "Eq. 3-7", _count(dec)),
        ("total", "", "", total),
    ]
    return rows


def parameter_table(
    config: dict[str, Any], vocab_size: int, num_keywords: int, variant: str = "maac"
) -> str:
    """The rows of :func:`parameter_rows` as a Markdown table."""
    lines = [
        f"Captioner `{variant}`, encoder width {config['encoder']['width']}, vocabulary "
        f"{vocab_size}, {num_keywords} keywords.",
        "",
        "| component | module | equation | parameters | millions |",
        "|---|---|---|---:|---:|",
    ]
    for name, module, eq, n in parameter_rows(config, vocab_size, num_keywords, variant):
        bold = "**" if module in ("encoder", "decoder", "") else ""
        module = f"`{module}`" if module else ""
        lines.append(f"| {bold}{name}{bold} | {module} | {eq} | {n:,} | {n / 1e6:.2f} |")
    return "\n".join(lines)
