"""What the training stages read: one split's features, keyword labels and encoded captions.

Clips are matched by ``(split, file_name)`` across the feature store (``maac features``), the
labels (``labels_{split}.npz``) and the captions (``captions_{split}.jsonl``). Batches are padded
at the end of time (the trunk masks padded frames) and drawn in an order that depends only on
the seed and the epoch, so a resumed stage sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from maac.audio.feature_store import FeatureStore
from maac.errors import MaacError
from maac.models.keyword_encoder import EncoderOutput, KeywordEncoder
from maac.models.resnet38 import ResNet38Trunk
from maac.text.build import read_labels
from maac.text.vocabulary import BOS_ID, EOS_ID, PAD_ID, Vocabulary

PAD_FRAMES = 64  # batches' time axis: a multiple of this many frames (0.64 s)
InputAugment = Callable[[Tensor, Tensor, ResNet38Trunk], Tensor]  # (features, lengths, trunk)


def read_encoded_captions(path: Path | str) -> dict[str, list[list[int]]]:
    """``captions_{split}.jsonl`` as {file_name: [token ids with BOS/EOS] x 5}."""
    path = Path(path)
    if not path.is_file():
        raise MaacError(f"{path}: encoded captions not found; run `maac text build` first")
    out: dict[str, list[list[int]]] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                out[record["file_name"]] = [list(map(int, t)) for t in record["tokens"]]
            except (ValueError, KeyError, TypeError) as err:
                raise MaacError(f"{path}:{n}: not a caption record ({err}); rebuild the text") \
                    from err
    return out


@dataclass
class Split:
    """The clips of one split, in a fixed order, with whatever targets the stage needs."""

    name: str
    store: FeatureStore
    file_names: list[str]
    rows: list[int]  # the feature store's index of each clip
    lengths: np.ndarray  # frames of each clip
    labels: np.ndarray | None = None  # (clips, keywords) multi-hot
    captions: list[list[list[int]]] | None = None  # per clip, its captions' token ids

    def __len__(self) -> int:
        return len(self.file_names)

    def features(self, idx: list[int], device: torch.device) -> tuple[Tensor, Tensor]:
        """Clips ``idx`` as zero-padded log-mels (B, T, F) and their lengths (B,).

        T is the longest clip rounded up to a multiple of ``PAD_FRAMES``. The model masks the
        padded frames, so this changes no output; but batches then share a few tensor sizes, and
        glibc's heap reuses their freed blocks instead of fragmenting (measured in
        docs/performance.md, "Peak memory of the demo").
        """
        arrays = [self.store[self.rows[i]] for i in idx]
        lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
        frames = -(-int(lengths.max()) // PAD_FRAMES) * PAD_FRAMES
        out = torch.zeros(len(arrays), frames, arrays[0].shape[1])
        for j, a in enumerate(arrays):
            out[j, : len(a)] = torch.from_numpy(np.ascontiguousarray(a))
        return out.to(device), lengths.to(device)

    def references(self, vocab: Vocabulary) -> dict[str, list[list[str]]]:
        """Each clip's reference captions as word lists (``<bos>``/``<eos>`` dropped)."""
        if self.captions is None:
            raise ValueError(f"split {self.name}: no captions loaded")
        words = vocab.id_to_word
        return {
            name: [[words[i] for i in ids if i not in (BOS_ID, EOS_ID, PAD_ID)] for ids in caps]
            for name, caps in zip(self.file_names, self.captions, strict=True)
        }


def load_split(
    features: Path | str,
    split: str,
    labels: Path | str | None = None,
    captions: Path | str | None = None,
    audio_cfg: dict | None = None,
) -> Split:
    """Open a split's features and load its labels and/or captions, matched by file name."""
    store = FeatureStore(features)
    if audio_cfg is not None:
        store.check(audio_cfg)
    label_names: list[str] | None = None
    label_rows = None
    if labels is not None:
        label_names, label_rows = read_labels(labels)
    caption_map = read_encoded_captions(captions) if captions is not None else None
    if label_names is not None:
        names = label_names
    elif caption_map is not None:
        names = list(caption_map)
    else:
        names = [n for s, n in store.keys if s == split]
    missing = [n for n in names if (split, n) not in store.index]
    if missing:
        raise MaacError(f"{features}: no features for {len(missing)} clip(s) of split {split}, "
                        f"e.g. {missing[0]!r}; recompute the features")
    caps = None
    if caption_map is not None:
        absent = [n for n in names if n not in caption_map]
        if absent:
            raise MaacError(f"{captions}: no captions for {absent[0]!r}; rebuild the text")
        caps = [caption_map[n] for n in names]
    if not names:
        raise MaacError(f"{features}: split {split} has no clips")
    rows = [store.index[(split, n)] for n in names]
    return Split(split, store, names, rows, store.lengths[rows], label_rows, caps)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A permutation of range(n) that depends only on (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen).tolist()


def chunks(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def pad_tokens(seqs: list[list[int]], device: torch.device) -> Tensor:
    """Token lists -> (B, T) long, PAD after each sequence's end."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device)


def stack_outputs(items: list[tuple[Tensor, Tensor]], device: torch.device) -> EncoderOutput:
    """Per-clip (sequence (L_i, C), logits (N,)) -> a padded :class:`EncoderOutput`."""
    longest = max(s.shape[0] for s, _ in items)
    seq = torch.zeros(len(items), longest, items[0][0].shape[1])
    mask = torch.zeros(len(items), longest, dtype=torch.bool)
    for j, (s, _) in enumerate(items):
        seq[j, : s.shape[0]] = s
        mask[j, : s.shape[0]] = True
    logits = torch.stack([lg for _, lg in items])
    return EncoderOutput(logits.to(device), torch.sigmoid(logits).to(device), seq.to(device),
                         mask.to(device))


class FrozenEncoderOutputs:
    """The frozen encoder's outputs for the clips of a split, cached or computed per batch.

    The encoder runs in eval mode without gradient. Without ``augment``, caching
    (``cache=True``: every clip encoded once, kept on the CPU) gives exactly what per-batch
    encoding would give, up to float rounding of padding within a batch; ``cache=False`` saves
    the memory. With ``augment`` (SpecAugment of the captioner's training input) every batch is
    encoded anew from its augmented input, and nothing is cached.
    """

    def __init__(
        self, encoder: KeywordEncoder, split: Split, batch_size: int, device: torch.device,
        cache: bool, autocast: bool = False, augment: InputAugment | None = None,
    ) -> None:
        self.encoder, self.split, self.device = encoder, split, device
        self.autocast = autocast
        self.augment = augment
        self.cached: list[tuple[Tensor, Tensor]] | None = None
        if cache and augment is None:
            order = np.argsort(split.lengths, kind="stable").tolist()  # little padding
            cached: dict[int, tuple[Tensor, Tensor]] = {}
            for idx in chunks(order, batch_size):
                out = self._encode(idx)
                for j, i in enumerate(idx):
                    valid = int(out.mask[j].sum())
                    cached[i] = (out.sequence[j, :valid].float().cpu(), out.logits[j].float().cpu())
            self.cached = [cached[i] for i in range(len(split))]

    @torch.no_grad()
    def _encode(self, idx: list[int]) -> EncoderOutput:
        self.encoder.eval()
        features, lengths = self.split.features(idx, self.device)
        if self.augment is not None:
            features = self.augment(features, lengths, self.encoder.trunk)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.encoder(features, lengths)
        return EncoderOutput(out.logits.float(), out.probs.float(), out.sequence.float(),
                             out.mask)

    def batch(self, idx: list[int]) -> EncoderOutput:
        """The outputs of clips ``idx`` (positions in the split), padded, on the device."""
        if self.cached is None:
            return self._encode(idx)
        return stack_outputs([self.cached[i] for i in idx], self.device)
