"""The paper's Fig. 2: keyword and previous-word attention over the decoding steps of a clip.

Greedy decoding of a few clips with a trained bundle; at every step the semantic attention's
weights (Eq. 4) over the K keywords and over the words generated so far are recorded and drawn
as heat maps (rows: the word being generated; columns: the memory attended to).
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

import numpy as np
import torch

from maac.atomic import atomic_file
from maac.inference.bundle import Bundle
from maac.text.vocabulary import BOS_ID, EOS_ID


@torch.no_grad()
def trace(bundle: Bundle, features: np.ndarray, max_length: int) -> dict:
    """Greedy caption of one clip with its per-step keyword and previous-word attention."""
    model = bundle.model
    feats = torch.from_numpy(np.asarray(features, dtype=np.float32))[None]
    encoder_out = model.encode(feats, torch.tensor([feats.shape[1]]))
    top = encoder_out.probs[0].topk(model.decoder.top_keywords).indices.tolist()
    state = model.init(encoder_out)
    token = torch.tensor([BOS_ID])
    words: list[str] = []
    keyword_rows: list[np.ndarray] = []
    word_rows: list[np.ndarray] = []
    for _ in range(max_length):
        weights: dict[str, torch.Tensor] = {}
        logits, state = model.step(state, token, weights)
        token = logits.argmax(dim=-1)
        if int(token) == EOS_ID:
            break
        words.append(bundle.vocab.id_to_word[int(token)])
        if "keywords" in weights:
            keyword_rows.append(weights["keywords"][0].numpy())
        row = np.zeros(max_length)
        if "words" in weights:
            row[: weights["words"].shape[1]] = weights["words"][0].numpy()
        word_rows.append(row)
    n = len(words)
    return {"words": words, "keywords": [bundle.keywords[i] for i in top],
            "keyword_attention": np.array(keyword_rows) if keyword_rows else None,
            "word_attention": np.array(word_rows)[:, : max(n - 1, 1)] if n else None}


def clip_title(name: str) -> str:
    """A clip's name as its file has it: Clotho's CSVs (and so the feature store's keys) keep
    HTML entities ("a &amp; b.wav" names the file "a & b.wav"); long names wrap."""
    return "\n".join(textwrap.wrap(html.unescape(name), 60)) or "(unnamed clip)"


def draw(traces: list[tuple[str, dict]], out: Path | str) -> None:
    """One row of two heat maps (keywords, previous words) per clip, saved as PNG; the weights
    share one 0-1 colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(traces), 2, figsize=(12, 3.8 * len(traces)), squeeze=False)
    for (name, t), (ax_k, ax_w) in zip(traces, axes, strict=True):
        steps = t["words"] or ["<eos>"]
        for ax, data, labels, title in (
            (ax_k, t["keyword_attention"], t["keywords"], "keyword attention"),
            (ax_w, t["word_attention"], steps[:-1] or ["-"], "previous-word attention"),
        ):
            if data is None or data.size == 0:
                ax.text(0.5, 0.5, "(not used by this variant)", ha="center", va="center")
                ax.set_axis_off()
                continue
            image = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
            ax.set_yticks(range(len(steps[: len(data)])), steps[: len(data)], fontsize=7)
            ax.set_ylabel("word generated", fontsize=7)
            ax.set_xlabel("keyword" if ax is ax_k else "previous word", fontsize=7)
            ax.set_title(f"{clip_title(name)}\n{title}", fontsize=8)
            fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).ax.tick_params(labelsize=6)
    fig.tight_layout()
    with atomic_file(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
