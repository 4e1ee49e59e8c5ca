"""Where every artifact lives, relative to the repository root (the Snakefile uses these too)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RESULTS = Path("results")
# the source checkout and the shared folder beside it (real Clotho samples, NLTK data)
REPO = Path(__file__).resolve().parent.parent
CLOTHO_SAMPLES = REPO.parent / "shared" / "data" / "clotho_v2.1"


def raw_dir(dataset: str) -> Path:
    """Downloaded or synthesised dataset in Clotho's layout: {split}/*.wav + caption CSVs."""
    return DATA / "raw" / dataset


def captions_csv(dataset: str, split: str) -> Path:
    return raw_dir(dataset) / f"clotho_captions_{split}.csv"


def audio_dir(dataset: str, split: str) -> Path:
    return raw_dir(dataset) / split


def manifest_csv(dataset: str, split: str) -> Path:
    return DATA / "manifest" / dataset / f"{split}.csv"


def pretrained_checkpoint(file: str) -> Path:
    return DATA / "pretrained" / file


def run_dir(run: str) -> Path:
    return RESULTS / run


def features_h5(dataset: str, split: str) -> Path:
    """Log-mel frames of every clip of a split (HDF5)."""
    return DATA / "features" / dataset / f"{split}.h5"


def text_dir(dataset: str) -> Path:
    """Vocabulary, keyword table, encoded captions and keyword labels of a dataset."""
    return DATA / "text" / dataset


def model_dir(run: str, variant: str, seed: int | str) -> Path:
    """Checkpoints, captions and metrics of one captioner variant and seed."""
    return RESULTS / run / variant / f"seed{seed}"


def metrics_json(run: str, variant: str, seed: int | str, stage: str, split: str) -> Path:
    """aac-metrics scores of a stage's (ce, rl) captions of a split."""
    return model_dir(run, variant, seed) / f"metrics_{stage}_{split}.json"


def scores_csv(run: str, variant: str, seed: int | str, stage: str, split: str) -> Path:
    """Per-clip scores of a stage's captions of a split (one row per clip)."""
    return model_dir(run, variant, seed) / f"scores_{stage}_{split}.csv"


def table(run: str, name: str, ext: str) -> Path:
    """results/{run}/table1.md and the like."""
    return RESULTS / run / f"{name}.{ext}"


# `dvc metrics show` reads this folder (in git, for `dvc metrics diff`): flat JSON per model
DVC_SCORES = RESULTS / "scores"
# a model's mean over seeds, then the lower and upper bound of its bootstrap interval
SCORE_KINDS = ("mean", "lower", "upper")


def dvc_scores(run: str, model: str, kind: str) -> Path:
    """results/scores/{run}/{model}.json (mean) or {model}.lower.json / {model}.upper.json."""
    return DVC_SCORES / run / (f"{model}.json" if kind == "mean" else f"{model}.{kind}.json")
