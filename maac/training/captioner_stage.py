"""Stages 2 and 3: the captioner with cross-entropy, then self-critical CIDEr-D optimisation.

Stage 2, CE (paper: 30 epochs, lr 3e-4, keyword encoder frozen; label smoothing and teacher
forcing): the encoder is the finetuned keyword encoder, frozen in eval mode (its outputs may be
cached: ``captioner.ce.cache_encoder``); the decoder, the X -> X^, W -> W^ and P -> P^
projections included, trains on every (clip, caption) pair with label smoothing (0.1) spread
over the tokens that can be targets (every token but ``<pad>`` and ``<bos>``; ``<pad>``
positions are ignored). With ``captioner.{ce,rl}.specaugment`` (the paper's SpecAugment "in
training", as the authors' code applied it to its CE and RL batches) each training batch's
log-mels get new SpecAugment stripes (the encoder's sizes) before the frozen encoder, which then
runs on every batch: the cache serves validation only.
Scheduled sampling: at epoch e the decoder is fed the reference word with probability p_e,
linear from ``teacher_forcing_start`` (first epoch) to ``teacher_forcing_end`` (last), else its
own previous argmax word (per sequence and step); p = 1 is plain teacher forcing.

Stage 3, RL (paper: from the 30th CE epoch, 55 epochs, lr 5e-5): self-critical sequence
training (Rennie et al. 2017). Per clip, ``samples_per_clip`` captions are sampled
(multinomial; with the decoder's dropout on if ``sample_dropout``, as the authors' code did, else
from the network used at inference) and rewarded with CIDEr-D against the clip's references,
minus the reward of the greedy caption (eval mode, no gradient). Loss:
-(r - b) log p(w) summed over the tokens up to and including ``<eos>`` (tokens after it are
masked), over the number of such tokens. CIDEr-D's document frequencies come from the training
captions; words are scored, not ids (docs/fidelity.md, row 18).

Validation (both): greedy decoding of every validation clip, corpus CIDEr-D against its
references with document frequencies from the validation references, as aac-metrics computes
it (``val_cider_d``, the stage's metric), with its 95% bootstrap interval over the validation
clips (``val_cider_d_low``, ``val_cider_d_high``). SPIDEr needs SPICE (Java + Stanford
CoreNLP), which is reported as missing where it is.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from maac.decoding.greedy import greedy
from maac.decoding.sampling import sample
from maac.errors import MaacError
from maac.evaluation.metrics import corpus_spice
from maac.models.captioner import ENCODER_REF, CaptionModel, decoder_state, load_captioner
from maac.models.keyword_encoder import EncoderOutput
from maac.stats import bootstrap
from maac.stats.clip_metrics import PerClipMean
from maac.text.vocabulary import BOS_ID, PAD_ID, Vocabulary
from maac.training.augment import InputSpecAugment
from maac.training.batches import FrozenEncoderOutputs, Split, chunks, epoch_order, pad_tokens
from maac.training.cider import CiderD
from maac.training.encoder_stage import load_encoder_checkpoint
from maac.training.loop import Recipe
from maac.training.settings import (
    CAPTIONER_ARCH,
    ENCODER_ARCH,
    CEPhase,
    LoopSettings,
    RLPhase,
    typed,
)
from maac.training.state import file_sha256


def words_of(tokens: Tensor, lengths: Tensor, vocab: Vocabulary) -> list[list[str]]:
    """Decoded rows -> word lists (up to ``<eos>``, specials dropped, ``<unk>`` kept)."""
    return [vocab.decode(row[:n]).split() for row, n in
            zip(tokens.tolist(), lengths.tolist(), strict=True)]


def teacher_forcing(ce: CEPhase, epochs: int, epoch: int) -> float:
    """Probability of feeding the reference word at ``epoch`` (0-based) of ``epochs``, linear
    from ``ce.teacher_forcing_start`` to ``ce.teacher_forcing_end`` (docs/fidelity.md row 19)."""
    start, end = ce.teacher_forcing_start, ce.teacher_forcing_end
    return start if epochs <= 1 else start + (end - start) * epoch / (epochs - 1)


def blind(out: EncoderOutput) -> EncoderOutput:
    """Encoder outputs carrying no information about the audio (the no-audio baseline)."""
    return EncoderOutput(torch.zeros_like(out.logits), torch.full_like(out.probs, 0.5),
                         torch.zeros_like(out.sequence), out.mask)


def smoothed_cross_entropy(logits: Tensor, targets: Tensor, smoothing: float) -> Tensor:
    """Cross-entropy against (1 - smoothing) one-hot + smoothing spread uniformly over the
    tokens that can be targets: every token but ``<pad>`` and ``<bos>`` (PyTorch's
    ``label_smoothing`` spreads it over all V, those two included). ``<pad>`` targets are
    ignored; the mean is over the other positions. logits (N, V), targets (N,)."""
    logprobs = F.log_softmax(logits.float(), dim=-1)
    valid = targets != PAD_ID
    nll = -logprobs.gather(1, targets[:, None]).squeeze(1)
    never = logprobs[:, PAD_ID] + logprobs[:, BOS_ID]
    spread = -(logprobs.sum(dim=-1) - never) / (logits.shape[-1] - 2)
    loss = (1 - smoothing) * nll + smoothing * spread
    return (loss * valid).sum() / valid.sum().clamp(min=1)


def validation_interval(per_clip: np.ndarray) -> bootstrap.Interval:
    """The 95% bootstrap interval of the mean validation score over the validation clips
    (seeded: 2000 resamples, seed 0), so a reader sees when the best epoch is a lucky peak."""
    scores = np.asarray(per_clip, dtype=np.float64)
    return bootstrap.interval([PerClipMean(float(scores.mean()), scores)],
                              _validation_draws(len(scores)))


@functools.lru_cache(maxsize=4)
def _validation_draws(clips: int) -> bootstrap.Resamples:
    """The same seeded resamples every epoch: drawn once per stage, not once per epoch."""
    return bootstrap.draw(clips, 1, bootstrap.RESAMPLES, bootstrap.SEED)


class CaptionerRecipe(Recipe):
    """What the CE and RL stages share: data, frozen-encoder outputs, greedy validation."""

    model: CaptionModel
    phase = ""  # "ce" or "rl": the config section ``captioner.{phase}``
    phase_type: type[CEPhase] | type[RLPhase]

    def __init__(
        self, settings: dict[str, Any], train: Split, val: Split, vocab: Vocabulary,
        model: CaptionModel, device: torch.device, seed: int, cache: bool | None = None,
        no_audio: bool = False,
    ) -> None:
        """``cache``: the frozen encoder's outputs computed once (default: the phase's
        ``cache_encoder``)."""
        self.settings, self.train_split, self.val, self.vocab = settings, train, val, vocab
        self.device, self.seed, self.no_audio = device, seed, no_audio
        section = settings["captioner"][self.phase]
        self.loop = LoopSettings.of(settings, section)
        self.phase_settings = typed(self.phase_type, section)
        self.batch_size = self.loop.batch_size
        self.max_length = settings["decoding"]["max_length"]
        if cache is None:
            cache = self.phase_settings.cache_encoder
        self.model = model.to(device)
        for p in self.model.encoder.parameters():
            p.requires_grad_(False)
        self.model.encoder.eval()
        autocast = device.type == "cuda"
        augment = None  # SpecAugment of the training input: the encoder runs on every batch
        if self.phase_settings.specaugment:
            augment = InputSpecAugment(settings["encoder"]["specaugment"])
        self.train_out = FrozenEncoderOutputs(self.model.encoder, train, self.batch_size, device,
                                              cache, autocast, augment)
        self.val_out = FrozenEncoderOutputs(self.model.encoder, val, self.batch_size, device,
                                            cache, autocast)
        self.val_refs = val.references(vocab)
        self.val_cider = CiderD(self.val_refs)  # DF from the validation references

    def encoder_outputs(self, source: FrozenEncoderOutputs, idx: list[int]) -> EncoderOutput:
        out = source.batch(idx)
        return blind(out) if self.no_audio else out

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.decoder.parameters() if p.requires_grad]

    def train_mode(self) -> None:
        self.model.train()
        self.model.encoder.eval()  # frozen: inference-mode BatchNorm and no dropout

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        hyps: dict[str, list[str]] = {}
        order = np.argsort(self.val.lengths, kind="stable").tolist()
        for idx in chunks(order, self.batch_size):
            decoded = greedy(self.model, self.encoder_outputs(self.val_out, idx), self.max_length)
            for i, words in zip(idx, words_of(decoded.tokens, decoded.lengths, self.vocab),
                                strict=True):
                hyps[self.val.file_names[i]] = words
        lengths = [len(h) for h in hyps.values()]
        keys = list(hyps)
        per_clip = self.val_cider.scores(keys, [hyps[k] for k in keys])
        interval = validation_interval(per_clip)
        metrics = {"val_cider_d": float(per_clip.mean()),  # the corpus score: the clips' mean
                   "val_cider_d_low": interval.low, "val_cider_d_high": interval.high,
                   "val_mean_words": float(np.mean(lengths)),
                   "val_distinct_captions": float(len({" ".join(h) for h in hyps.values()}))}
        spice = corpus_spice(hyps, self.val_refs)
        if spice is not None:
            metrics["val_spice"] = spice
            metrics["val_spider"] = (metrics["val_cider_d"] + spice) / 2
        first = self.val.file_names[0]
        print(f"  e.g. {first!r}: {' '.join(hyps[first])!r}", flush=True)
        return metrics

    def checkpoint(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The decoder's weights; the frozen encoder is named by ``meta["encoder_checkpoint"]``
        (a model built on an encoder given in memory keeps its whole state)."""
        if ENCODER_REF in self.model.meta:
            return decoder_state(self.model), self.model.meta
        return self.model.state_dict(), self.model.meta

    def restore(self, state_dict: dict[str, Tensor]) -> None:
        """Load a training state's weights: the decoder's (the encoder is the one built on)."""
        if any(k.startswith("encoder.") for k in state_dict):
            self.model.load_state_dict(state_dict)
        else:
            self.model.decoder.load_state_dict(
                {k.removeprefix("decoder."): v for k, v in state_dict.items()})


class CERecipe(CaptionerRecipe):
    """Stage 2: cross-entropy with label smoothing and scheduled sampling."""

    phase, phase_type = "ce", CEPhase
    phase_settings: CEPhase

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pairs = [(i, j) for i, caps in enumerate(self.train_split.captions or [])
                      for j in range(len(caps))]

    def batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        order = epoch_order(len(self.pairs), self.seed, epoch)
        return chunks([self.pairs[k] for k in order], self.batch_size)  # type: ignore[arg-type]

    def step(self, batch: list[tuple[int, int]], epoch: int) -> tuple[Tensor, int]:
        captions = self.train_split.captions
        assert captions is not None
        out = self.encoder_outputs(self.train_out, [i for i, _ in batch])
        tokens = pad_tokens([captions[i][j] for i, j in batch], self.device)
        p_truth = teacher_forcing(self.phase_settings, self.loop.epochs, epoch)
        logits = self.decode(out, tokens[:, :-1], p_truth)
        loss = smoothed_cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                      tokens[:, 1:].reshape(-1),
                                      self.phase_settings.label_smoothing)
        return loss, len(batch)

    def decode(self, out: EncoderOutput, inputs: Tensor, p_truth: float) -> Tensor:
        """Logits (B, T, V) for inputs (B, T) = BOS w_1 .. w_{T-1}, with scheduled sampling."""
        if p_truth >= 1.0:
            return self.model.decoder(out, inputs)
        state = self.model.init(out)
        token, steps = inputs[:, 0], []
        for t in range(inputs.shape[1]):
            logits, state = self.model.step(state, token)
            steps.append(logits)
            if t + 1 < inputs.shape[1]:
                truth = torch.rand(inputs.shape[0], device=inputs.device) < p_truth
                token = torch.where(truth, inputs[:, t + 1], logits.detach().argmax(dim=-1))
        return torch.stack(steps, dim=1)


def reward_scorer(train: Split, vocab: Vocabulary) -> CiderD:
    """CIDEr-D against each training clip's references, DF from the training captions."""
    refs = train.references(vocab)
    return CiderD(refs, df_corpus=refs.values())


def scst_loss(advantage: Tensor, logprobs: Tensor, lengths: Tensor) -> Tensor:
    """-(r - b) log p over the tokens up to and including ``<eos>``, per token.

    ``advantage`` (R,), ``logprobs`` (R, L) of the sampled tokens, ``lengths`` (R,) tokens
    through ``<eos>``: tokens after it get no gradient (bug 3 of the authors' code).
    """
    steps = torch.arange(logprobs.shape[1], device=logprobs.device)
    mask = (steps[None, :] < lengths[:, None]).to(torch.float32)
    return -(advantage[:, None] * logprobs.float() * mask).sum() / mask.sum().clamp(min=1)


class SCSTRecipe(CaptionerRecipe):
    """Stage 3: self-critical sequence training with CIDEr-D rewards and a greedy baseline."""

    phase, phase_type = "rl", RLPhase
    phase_settings: RLPhase

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n = self.phase_settings.samples_per_clip
        self.sample_dropout = self.phase_settings.sample_dropout
        self.reward = reward_scorer(self.train_split, self.vocab)
        self.rewards: list[float] = []
        self.baselines: list[float] = []

    def batches(self, epoch: int) -> list[list[int]]:
        self.rewards, self.baselines = [], []
        return chunks(epoch_order(len(self.train_split), self.seed, epoch), self.batch_size)

    def step(self, batch: list[int], epoch: int) -> tuple[Tensor, int]:
        out = self.encoder_outputs(self.train_out, batch)
        keys = [self.train_split.file_names[i] for i in batch]
        self.model.eval()
        with torch.no_grad():
            g = greedy(self.model, out, self.max_length)
        baseline = self.reward.scores(keys, words_of(g.tokens, g.lengths, self.vocab))
        self.model.decoder.train(self.sample_dropout)
        s = sample(self.model, out, self.n, self.max_length)
        reward = self.reward.scores([k for k in keys for _ in range(self.n)],
                                    words_of(s.tokens, s.lengths, self.vocab))
        advantage = torch.as_tensor(reward - np.repeat(baseline, self.n),
                                    dtype=torch.float32, device=self.device)
        loss = scst_loss(advantage, s.logprobs, s.lengths)
        self.rewards.extend(reward.tolist())
        self.baselines.extend(baseline.tolist())
        return loss, len(batch)

    def validate(self) -> dict[str, float]:
        metrics = super().validate()
        if self.rewards:
            metrics["train_reward"] = float(np.mean(self.rewards))
            metrics["train_greedy_reward"] = float(np.mean(self.baselines))
        return metrics


def keyword_vocab_ids(keywords: list[str], vocab: Vocabulary, source: str) -> list[int]:
    missing = [w for w in keywords if w not in vocab]
    if missing:
        raise MaacError(f"{source}: keyword {missing[0]!r} is not in the vocabulary; rebuild "
                        "the text artifacts together")
    return [vocab.word_to_id[w] for w in keywords]


def captioner_for_ce(
    settings: dict[str, Any], variant: str, encoder_checkpoint: Path, vocab: Vocabulary,
    keywords: list[str], text_hashes: dict[str, str], source: str,
    encoder_sha256: str | None = None,
) -> CaptionModel:
    """A new captioner whose encoder is the finetuned keyword encoder's checkpoint, named in
    its metadata (path and sha256: ``encoder_sha256``, or computed here) so that the stages'
    checkpoints need not repeat the frozen encoder's weights."""
    enc_cfg, cap_cfg = settings["encoder"], settings["captioner"]
    state_dict, meta = load_encoder_checkpoint(encoder_checkpoint, enc_cfg, len(keywords),
                                               text_hashes["keywords_sha256"])
    model = CaptionModel({k: enc_cfg[k] for k in ENCODER_ARCH},
                      {k: cap_cfg[k] for k in CAPTIONER_ARCH}, len(vocab),
                      keyword_vocab_ids(keywords, vocab, source), variant, meta["n_mels"])
    model.encoder.load_state_dict(state_dict, strict=True)
    model.meta.update(text_hashes)
    model.meta[ENCODER_REF] = {"path": str(encoder_checkpoint),
                               "sha256": encoder_sha256 or file_sha256(encoder_checkpoint)}
    return model


def captioner_for_rl(
    checkpoint: Path, variant: str, vocab: Vocabulary, keywords: list[str],
    text_hashes: dict[str, str], encoder: Path | None = None,
) -> CaptionModel:
    """The CE stage's captioner, refused if made with another vocabulary, keywords or variant
    (``encoder``: its encoder checkpoint; default the path it names)."""
    model, meta = load_captioner(checkpoint, len(vocab), len(keywords), encoder)
    if meta["variant"] != variant:
        raise MaacError(f"{checkpoint}: a {meta['variant']!r} captioner, not {variant!r}")
    for key, value in text_hashes.items():
        if meta.get(key) != value:
            raise MaacError(
                f"{checkpoint}: trained with another {key.removesuffix('_sha256')} file "
                f"(sha256 {str(meta.get(key))[:12]} != {value[:12]}); retrain the CE stage"
            )
    return model
