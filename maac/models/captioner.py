"""The captioner: keyword encoder (Eq. 1-2) + multi-modal attention decoder (Eq. 3-7).

Built from the config's ``encoder`` and ``captioner`` sections, the vocabulary size and the
keyword -> vocabulary id mapping. Saved as ``{"state_dict", "meta"}`` with ``torch.save``; the
metadata holds what rebuilds the model (architecture keys, vocabulary size, keyword count,
variant) and the hash of the two config sections, so :func:`load_captioner` needs no config and
refuses a checkpoint trained with another vocabulary. The file format itself (same content,
same bytes) is :mod:`maac.models.checkpoint`.

The training stages keep the encoder frozen, so their checkpoints hold the decoder's weights
only (:func:`decoder_state`) and name the keyword-encoder checkpoint they were built on in
``meta["encoder_checkpoint"]`` (its path as given to training, and its sha256): at width 1 the
encoder is most of the bytes (docs/fidelity.md, "Parameter counts"). Loading such a
checkpoint reads the encoder from that file, refused unless its sha256 is the recorded one
(:func:`full_state`); a model bundle stores both parts and needs no other file.
"""

from __future__ import annotations

import hashlib
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from maac.config import section_hash
from maac.errors import MaacError
from maac.models.checkpoint import read_checkpoint, save_checkpoint
from maac.models.decoder import Decoder, DecoderState
from maac.models.hparams import ENCODER_KEYS, DecoderConfig
from maac.models.keyword_encoder import EncoderOutput, KeywordEncoder
from maac.models.resnet38 import Augment

FORMAT = "maac-captioner/2"  # /2: the W -> W^ and P -> P^ projections, detach_keywords
OLD_FORMATS = {"maac-captioner/1": "from before the keyword and previous-word projections "
                                   "W -> W^ and P -> P^"}
DEFAULTS = {f.name: f.default for f in fields(DecoderConfig) if f.default is not MISSING}


def build_keyword_encoder(
    encoder_cfg: dict[str, Any], num_keywords: int, n_mels: int = 64
) -> KeywordEncoder:
    """The keyword encoder of config section ``encoder``."""
    return KeywordEncoder(num_keywords, float(encoder_cfg["width"]), encoder_cfg["head_dim"],
                          n_mels)


class CaptionModel(nn.Module):
    """Keyword encoder + decoder as one module, with the decoder's step API passed through (the
    public API over a model bundle is :class:`maac.inference.api.Captioner`)."""

    def __init__(
        self,
        encoder_cfg: dict[str, Any],
        captioner_cfg: dict[str, Any],
        vocab_size: int,
        keyword_ids: Tensor | list[int],
        variant: str = "maac",
        n_mels: int = 64,
    ) -> None:
        super().__init__()
        captioner_cfg = {**DEFAULTS, **captioner_cfg}
        decoder_cfg = DecoderConfig.from_section(captioner_cfg)
        keyword_ids = torch.as_tensor(keyword_ids, dtype=torch.long)
        self.encoder = build_keyword_encoder(encoder_cfg, len(keyword_ids), n_mels)
        self.decoder = Decoder(
            vocab_size,
            keyword_ids,
            sequence_dim=self.encoder.sequence_dim,
            acoustic_dim=encoder_cfg["acoustic_dim"],
            variant=variant,
            **decoder_cfg.section(),
        )
        self.meta: dict[str, Any] = {
            "format": FORMAT,
            "encoder": {k: encoder_cfg[k] for k in ENCODER_KEYS},
            "captioner": decoder_cfg.section(),
            "vocab_size": vocab_size,
            "num_keywords": len(keyword_ids),
            "variant": variant,
            "n_mels": n_mels,
            "config_hash": section_hash({"encoder": encoder_cfg, "captioner": captioner_cfg}),
        }

    def encode(
        self, features: Tensor, lengths: Tensor | None = None, augment: Augment | None = None
    ) -> EncoderOutput:
        """Eq. 1-2 on log-mel features (B, T, n_mels) with valid lengths (B,)."""
        return self.encoder(features, lengths, augment)

    def init(self, encoder_out: EncoderOutput) -> DecoderState:
        return self.decoder.init(encoder_out)

    def step(
        self, state: DecoderState, tokens: Tensor, weights: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, DecoderState]:
        return self.decoder.step(state, tokens, weights)

    def forward(
        self, features: Tensor, lengths: Tensor | None, tokens: Tensor
    ) -> tuple[Tensor, EncoderOutput]:
        """Teacher-forced logits (B, T, V) for tokens (B, T), and the encoder's outputs."""
        encoder_out = self.encode(features, lengths)
        return self.decoder(encoder_out, tokens), encoder_out


ENCODER_REF = "encoder_checkpoint"  # meta key: {"path", "sha256"} of the encoder's checkpoint


def decoder_state(model: CaptionModel) -> dict[str, Tensor]:
    """The captioner's weights without the (frozen) encoder's: every ``decoder.*`` tensor."""
    return {k: v for k, v in model.state_dict().items() if k.startswith("decoder.")}


def _file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def full_state(state_dict: dict[str, Tensor], meta: dict[str, Any], source: str,
               encoder: Path | str | None = None) -> dict[str, Tensor]:
    """The whole captioner's weights: ``state_dict`` itself when it holds the encoder, else the
    decoder's plus those of the encoder checkpoint (``encoder``, or the path ``meta`` names),
    refused if that file is missing or is not (by sha256) the one the captioner was built on."""
    ref = meta.get(ENCODER_REF)
    if ref is None or any(k.startswith("encoder.") for k in state_dict):
        return state_dict
    path = Path(encoder if encoder is not None else ref["path"])
    remedy = ("restore that file (the keyword encoder's best.pt of this run) or retrain the "
              "captioner (CE, then RL)")
    if not path.is_file():
        raise MaacError(f"{source}: holds the decoder only; its encoder checkpoint {path} is "
                        f"missing; {remedy}")
    actual = _file_sha256(path)
    if actual != ref["sha256"]:
        raise MaacError(f"{source}: holds the decoder only, built on the encoder checkpoint "
                        f"{path} with sha256 {ref['sha256'][:12]}, but that file now has sha256 "
                        f"{actual[:12]} (the encoder was retrained or replaced); {remedy}")
    encoder, _ = read_checkpoint(path)
    return {**{f"encoder.{k}": v for k, v in encoder.items()}, **state_dict}


def save_captioner(model: CaptionModel, path: Path | str,
                   extra: dict[str, Any] | None = None) -> None:
    """Save weights + metadata (``extra`` adds plain values, e.g. the epoch)."""
    save_checkpoint(path, model.state_dict(), {**model.meta, **(extra or {})})


def load_captioner(
    path: Path | str, vocab_size: int | None = None, num_keywords: int | None = None,
    encoder: Path | str | None = None,
) -> tuple[CaptionModel, dict[str, Any]]:
    """Rebuild a captioner from its checkpoint; refuse one of another vocabulary or keyword set.
    ``encoder``: the encoder checkpoint of a decoder-only one (default: the path it names).

    Returns the model (on the CPU, in training mode as a new module is) and its metadata.
    """
    state_dict, meta = read_checkpoint(path)
    model = captioner_from_state(state_dict, meta, str(path), vocab_size, num_keywords, encoder)
    return model, meta


def captioner_from_state(
    state_dict: dict[str, Tensor], meta: dict[str, Any], source: str,
    vocab_size: int | None = None, num_keywords: int | None = None,
    encoder: Path | str | None = None,
) -> CaptionModel:
    """The captioner that ``meta`` describes, with ``state_dict`` loaded strictly (its encoder
    read from the checkpoint ``meta`` names when ``state_dict`` is the decoder's only)."""
    if meta.get("format") in OLD_FORMATS:
        raise MaacError(
            f"{source}: a captioner {OLD_FORMATS[meta['format']]} (format {meta['format']}); "
            f"this version reads {FORMAT}: retrain the captioner (CE, then RL)"
        )
    if meta.get("format") != FORMAT:
        raise MaacError(f"{source}: not a captioner checkpoint (format {meta.get('format')!r})")
    if vocab_size is not None and meta["vocab_size"] != vocab_size:
        raise MaacError(
            f"{source}: trained with a vocabulary of {meta['vocab_size']} words, but this "
            f"vocabulary has {vocab_size}; use the vocabulary it was trained with or retrain"
        )
    if num_keywords is not None and meta["num_keywords"] != num_keywords:
        raise MaacError(
            f"{source}: trained with {meta['num_keywords']} keywords, but this keyword list has "
            f"{num_keywords}; use the keyword list it was trained with or retrain"
        )
    ids = state_dict.get("decoder.keyword_ids")
    if ids is None:
        raise MaacError(f"{source}: missing key 'decoder.keyword_ids'")
    state_dict = full_state(state_dict, meta, source, encoder)
    model = CaptionModel(meta["encoder"], meta["captioner"], meta["vocab_size"], ids,
                      meta["variant"], meta["n_mels"])
    model.meta = meta
    expected, found = set(model.state_dict()), set(state_dict)
    if expected != found:
        missing, unexpected = sorted(expected - found), sorted(found - expected)
        raise MaacError(
            f"{source}: weights do not fit the {meta['variant']!r} captioner its metadata "
            f"describes (missing {', '.join(missing) or 'none'}; unexpected "
            f"{', '.join(unexpected) or 'none'}); retrain it or use the code it was made with"
        )
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:  # a shape mismatch: name the keys, on one line
        detail = " ".join(str(err).split())
        raise MaacError(
            f"{source}: weights do not fit the model its metadata describes ({detail})"
        ) from err
    return model
