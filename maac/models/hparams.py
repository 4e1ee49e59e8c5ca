"""The model's hyperparameters as typed, frozen dataclasses (no torch import: the Snakemake
rules read the key names through :mod:`maac.training.settings`).

Each field is a key of the validated config section (``encoder``: :class:`EncoderArch`,
``captioner``: :class:`DecoderConfig`), in the order checkpoints record them; the values are
kept as the schema checked them. A new decoder hyperparameter is a field here, a key in the
schema and config files, and its use in :mod:`maac.models.decoder`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class EncoderArch:
    """The keyword encoder's architecture (config section ``encoder``)."""

    width: float
    head_dim: int
    acoustic_dim: int


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder's hyperparameters (config section ``captioner``)."""

    embed_dim: int
    hidden_dim: int
    attention_dim: int
    top_keywords: int
    word_dropout: float
    classifier_dropout: float
    detach_keywords: bool = True  # config.yaml's value, for configs written in code

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> DecoderConfig:
        """The fields of config section ``captioner`` (its other keys ignored)."""
        return cls(**{k: section[k] for k in keys(cls) if k in section})

    def section(self) -> dict[str, Any]:
        """The fields as a config section, in field order."""
        return {k: getattr(self, k) for k in keys(type(self))}


def keys(cls: type) -> tuple[str, ...]:
    """The config keys of a hyperparameter dataclass, in field order."""
    return tuple(f.name for f in fields(cls))


ENCODER_KEYS = keys(EncoderArch)
DECODER_KEYS = keys(DecoderConfig)
