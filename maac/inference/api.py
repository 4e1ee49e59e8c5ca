"""Caption audio with a trained bundle: ``Captioner.load(bundle).caption(path_or_array, sr)``.

Any sample rate, stereo (averaged to mono) and any length: audio longer than one Clotho clip
(30 s) is encoded in 30 s chunks; the decoder attends over all of their acoustic frames and a
keyword's probability is its highest over the chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maac.audio.frontend import LogMel, check_finite, check_sample_rate
from maac.inference.bundle import Bundle, read_bundle
from maac.models.keyword_encoder import EncoderOutput

CHUNK_SECONDS = 30.0
MIN_FRAMES = 32  # the trunk pools time by 32


@dataclass(frozen=True)
class Caption:
    caption: str
    keywords: list[tuple[str, float]]  # the K most probable keywords, with probabilities


class Captioner:
    """A trained MAAC model ready to caption audio files or arrays."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.frontend = LogMel(bundle.audio)
        self.top_k = int(bundle.meta["captioner"]["top_keywords"])
        hop = int(bundle.audio["hop_length"])
        self.chunk_frames = int(CHUNK_SECONDS * bundle.audio["sample_rate"] / hop) + 1

    @classmethod
    def load(cls, path: Path | str) -> Captioner:
        return cls(read_bundle(path))

    def features(self, audio: Path | str | np.ndarray, sr: int | None = None) -> torch.Tensor:
        """(T, n_mels) log-mel of a file, or of an array (samples[, channels]) at rate ``sr``."""
        if isinstance(audio, (str, Path)):
            return torch.from_numpy(self.frontend(audio))
        if sr is None:
            raise ValueError("caption(array, sr): the sample rate of the array is needed")
        check_sample_rate(int(sr), "the audio array")
        samples = np.asarray(audio, dtype=np.float32)
        check_finite(samples, "the audio array")
        samples = samples.mean(axis=1) if samples.ndim == 2 else samples
        wave = self.frontend.resample(torch.from_numpy(np.ascontiguousarray(samples)), sr)
        return self.frontend.logmel(wave, "the audio array")

    def encode(self, features: torch.Tensor) -> EncoderOutput:
        """The encoder's outputs for one clip of any length (chunked beyond 30 s)."""
        silence = 10.0 * np.log10(float(self.bundle.audio["amin"]))
        if len(features) < MIN_FRAMES:
            pad = features.new_full((MIN_FRAMES - len(features), features.shape[1]), silence)
            features = torch.cat([features, pad])
        chunks = list(torch.split(features, self.chunk_frames))
        if len(chunks) > 1 and len(chunks[-1]) < MIN_FRAMES:
            chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
        lengths = torch.tensor([len(c) for c in chunks])
        batch = torch.nn.utils.rnn.pad_sequence(chunks, batch_first=True, padding_value=silence)
        out = self.bundle.model.encode(batch, lengths)
        if len(chunks) == 1:
            return out
        sequence = out.sequence[out.mask][None]  # every chunk's valid frames, in order
        best = out.logits.max(dim=0, keepdim=True).values
        return EncoderOutput(best, torch.sigmoid(best), sequence,
                             torch.ones(sequence.shape[:2], dtype=torch.bool))

    @torch.no_grad()
    def caption(self, audio: Path | str | np.ndarray, sr: int | None = None) -> Caption:
        from maac.decoding.beam import beam_search

        encoder_out = self.encode(self.features(audio, sr))
        cfg = self.bundle.decoding
        decoded = beam_search(self.bundle.model, encoder_out, cfg["beam_size"],
                              cfg["max_length"], cfg["length_penalty"])
        text = self.bundle.vocab.decode(decoded.tokens[0].tolist())
        probs, idx = encoder_out.probs[0].topk(min(self.top_k, encoder_out.probs.shape[1]))
        keywords = [(self.bundle.keywords[i], float(p)) for p, i in zip(probs, idx.tolist(),
                                                                        strict=True)]
        return Caption(text, keywords)
