"""The models of the DCASE-2024 metrics: sentence-BERT (SBERT-sim, FENSE) and the fluency
checker (FER, FENSE, SPIDEr-FL), found in one folder under aac-metrics' cache root.

aac-metrics 0.6.0 would fetch them from the internet at first use (sentence-BERT from the
Hugging Face hub, the checker from the FENSE GitHub release plus the bert-base-uncased
tokenizer). Here they are read only from this layout, so that an offline machine says what is
missing instead of hanging on a download::

    {cache}/maac-metric-models/sbert/paraphrase-TinyBERT-L6-v2/   a sentence-transformers folder
    {cache}/maac-metric-models/fluency/echecker_clotho_audiocaps_base.ckpt   the checker
    {cache}/maac-metric-models/fluency/encoder/   its BERT's config.json and tokenizer files

``maac metrics-setup`` fills it when online (:func:`download_models`); offline, a user copies
those files there from a machine that has them. The metrics themselves are aac-metrics' own
functions, given the models loaded from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maac.atomic import atomic_dir, atomic_file
from maac.errors import MaacError

log = logging.getLogger(__name__)

MODELS_DIR = "maac-metric-models"
SBERT_NAME = "paraphrase-TinyBERT-L6-v2"  # aac-metrics' DEFAULT_SBERT_SIM_MODEL
SBERT_HUB = f"sentence-transformers/{SBERT_NAME}"
ECHECKER_NAME = "echecker_clotho_audiocaps_base"  # aac-metrics' DEFAULT_FER_MODEL
ECHECKER_SHA256 = "1a719f090af70614bbdb9f9437530b7e133c48cfa4a58d964de0d47fc974a2fa"
ECHECKER_ENCODER = "bert-base-uncased"  # the official checkpoint's model_type
FLUENCY_PENALTY = 0.9  # aac-metrics' default for FENSE and SPIDEr-FL
ERROR_THRESHOLD = 0.9  # aac-metrics' default for FER
SETUP = "run maac metrics-setup online"
SBERT_REASON = f"SBERT-sim and FENSE need the sentence-BERT model: {SETUP}"
FLUENCY_REASON = f"FER, FENSE and SPIDEr-FL need the fluency-checker model: {SETUP}"
MODELS_REASON = f"FENSE, SBERT-sim, FER and SPIDEr-FL need their models: {SETUP}"
MODEL_METRICS = ("sbert_sim", "fer", "fense", "spider_fl")


@dataclass(frozen=True)
class MetricModels:
    """Where the models are under one cache root, and which of them are complete."""

    root: Path  # {cache}/maac-metric-models

    @property
    def sbert_dir(self) -> Path:
        return self.root / "sbert" / SBERT_NAME

    @property
    def echecker(self) -> Path:
        return self.root / "fluency" / f"{ECHECKER_NAME}.ckpt"

    @property
    def encoder_dir(self) -> Path:
        return self.root / "fluency" / "encoder"

    def sbert_missing(self) -> str | None:
        """What is missing of sentence-BERT, or None when it is in place."""
        if not (self.sbert_dir / "modules.json").is_file():
            return f"{self.sbert_dir} (a sentence-transformers folder with modules.json)"
        return None

    def fluency_missing(self) -> str | None:
        """What is missing of the fluency checker, or None when it is in place."""
        missing = []
        if not self.echecker.is_file():
            missing.append(str(self.echecker))
        if not (self.encoder_dir / "config.json").is_file():
            missing.append(f"{self.encoder_dir} (config.json and tokenizer files of "
                           f"{ECHECKER_ENCODER})")
        return ", ".join(missing) or None

    @property
    def sbert_available(self) -> bool:
        return self.sbert_missing() is None

    @property
    def fluency_available(self) -> bool:
        return self.fluency_missing() is None

    def files(self) -> list[Path]:
        """Every model file in place, sorted (for provenance)."""
        found: list[Path] = []
        if self.sbert_available:
            found += [p for p in self.sbert_dir.rglob("*") if p.is_file()]
        if self.fluency_available:
            found.append(self.echecker)
            found += [p for p in self.encoder_dir.rglob("*") if p.is_file()]
        return sorted(found)

    def unavailable(self, spice_reason: str | None) -> dict[str, str]:
        """Reason per model-backed metric that cannot be computed: one reason per cause, so
        that a table states each once. SPIDEr-FL builds on SPIDEr: SPICE's reason comes first."""
        sbert, fluency = self.sbert_available, self.fluency_available
        if not sbert and not fluency:
            out = dict.fromkeys(MODEL_METRICS, MODELS_REASON)
        else:
            out = {}
            if not sbert:
                out.update(dict.fromkeys(("sbert_sim", "fense"), SBERT_REASON))
            if not fluency:
                out.update(dict.fromkeys(("fer", "fense", "spider_fl"), FLUENCY_REASON))
        if spice_reason is not None:
            out["spider_fl"] = spice_reason
        return {key: out[key] for key in MODEL_METRICS if key in out}

    def report(self) -> list[str]:
        """Lines for ``maac metrics-setup``."""
        lines = []
        sbert, fluency = self.sbert_missing(), self.fluency_missing()
        lines.append("SBERT-sim: available" if sbert is None else
                     f"SBERT-sim: NOT available (missing {sbert})")
        lines.append("FER: available" if fluency is None else
                     f"FER: NOT available (missing {fluency})")
        lines.append("FENSE: available" if sbert is None and fluency is None else
                     "FENSE: NOT available (needs both models above)")
        if sbert is not None or fluency is not None:
            lines.append(f"Offline: copy {MODELS_DIR}/ from a machine where `maac "
                         f"metrics-setup` ran online into {self.root.parent}, or run it "
                         "where the internet is reachable.")
        return lines


def metric_models(cache: Path) -> MetricModels:
    """The model layout under aac-metrics' cache root ``cache``."""
    return MetricModels(Path(cache) / MODELS_DIR)


# --- loading (heavy imports only here) -----------------------------------------------------
def load_sbert(models: MetricModels) -> Any:
    """The sentence-transformers model, on the CPU, in eval mode."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(models.sbert_dir), device="cpu").eval()
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        detail = (str(err).splitlines() or [""])[0][:200]
        raise MaacError(f"{models.sbert_dir}: not a loadable sentence-transformers model "
                        f"({type(err).__name__}: {detail}); remove it and {SETUP}") from err


def load_echecker(models: MetricModels) -> tuple[Any, Any]:
    """aac-metrics' fluency checker (its BERTFlatClassifier, weights from the checkpoint) and
    its tokenizer, both from local files only."""
    import pickle

    import torch
    from aac_metrics.functional.fer import BERTFlatClassifier
    from torch import nn
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    class LocalChecker(BERTFlatClassifier):
        """The same module built from a local config instead of the hub's weights."""

        def __init__(self, encoder_dir: Path, model_type: str, num_classes: int) -> None:
            nn.Module.__init__(self)
            config = AutoConfig.from_pretrained(str(encoder_dir))
            self.model_type = model_type
            self.num_classes = num_classes
            self.encoder = AutoModel.from_config(config)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.clf = nn.Linear(config.hidden_size, num_classes)

    try:
        states = torch.load(models.echecker, map_location="cpu", weights_only=True)
        state_dict = dict(states["state_dict"])
        state_dict.pop("encoder.embeddings.position_ids", None)  # a buffer in old transformers
        checker = LocalChecker(models.encoder_dir, str(states["model_type"]),
                               int(states["num_classes"]))
        checker.load_state_dict(state_dict)
        tokenizer = AutoTokenizer.from_pretrained(str(models.encoder_dir))
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, EOFError,
            pickle.UnpicklingError) as err:
        detail = ("not a readable torch checkpoint" if isinstance(err, pickle.UnpicklingError)
                  else (str(err).splitlines() or [""])[0][:200])
        raise MaacError(f"{models.echecker} with {models.encoder_dir}: not a loadable fluency "
                        f"checker ({type(err).__name__}: {detail}); remove them and {SETUP}"
                        ) from err
    checker.eval()
    for p in checker.parameters():
        p.requires_grad_(False)
    return checker, tokenizer


# --- download (maac metrics-setup, online) -------------------------------------------------
def _download(url: str, target: Path, sha256: str) -> None:
    import hashlib
    import urllib.request

    with atomic_file(target) as tmp:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                f.write(block)
        if digest.hexdigest() != sha256:
            raise MaacError(f"{url}: sha256 {digest.hexdigest()} differs from aac-metrics' "
                            f"{sha256}; try again later")


def download_models(models: MetricModels) -> list[str]:
    """Fetch what is missing (sentence-BERT from the hub, the checker from the FENSE release,
    its tokenizer and config from the hub) into the layout; what was done."""
    actions = []
    try:
        if not models.sbert_available:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(SBERT_HUB, device="cpu")
            with atomic_dir(models.sbert_dir) as tmp:
                model.save(str(tmp))
            actions.append(f"placed {models.sbert_dir} from the Hugging Face hub ({SBERT_HUB})")
        if not models.fluency_available:
            from aac_metrics.functional.fer import _PRETRAIN_ECHECKERS_DICT
            from transformers import AutoConfig, AutoTokenizer

            if not models.echecker.is_file():
                url, sha256 = _PRETRAIN_ECHECKERS_DICT[ECHECKER_NAME]
                _download(url, models.echecker, sha256)
                actions.append(f"placed {models.echecker} from {url}")
            if not (models.encoder_dir / "config.json").is_file():
                with atomic_dir(models.encoder_dir) as tmp:
                    AutoTokenizer.from_pretrained(ECHECKER_ENCODER).save_pretrained(str(tmp))
                    AutoConfig.from_pretrained(ECHECKER_ENCODER).save_pretrained(str(tmp))
                actions.append(f"placed {models.encoder_dir} ({ECHECKER_ENCODER}'s tokenizer "
                               "and config from the Hugging Face hub)")
    except MaacError as err:
        actions.append(f"model download failed ({err})")
    except Exception as err:  # network and hub errors have many types
        actions.append(f"model download failed ({type(err).__name__}: {err})")
    return actions

