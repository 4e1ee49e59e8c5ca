"""Where every artifact lives, relative to the repository root (the Snakefile uses these too)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RESULTS = Path("results")
LOGS = Path("logs")
# the source checkout and the shared folder beside it (real Clotho samples, NLTK data)
REPO = Path(__file__).resolve().parent.parent
CLOTHO_SAMPLES = REPO.parent / "shared" / "data" / "clotho_v2.1"


def raw_dir(dataset: str) -> Path:
    """Downloaded or synthesised dataset in Clotho's layout: {split}/*.wav + caption CSVs."""
    return DATA / "raw" / dataset


def captions_csv(dataset: str, split: str) -> Path:
    """A split's caption CSV (Clotho's own layout: the CSVs beside the split folders)."""
    return local_captions_csv(raw_dir(dataset), "clotho", split)


def raw_file(dataset: str, name: str) -> Path:
    """A downloaded file of the dataset (a Zenodo record's archive or CSV)."""
    return raw_dir(dataset) / name


def audio_archive(dataset: str, split: str) -> Path:
    """Clotho's 7z archive of a split's audio (extracted to ``audio_dir``)."""
    return raw_dir(dataset) / f"clotho_audio_{split}.7z"


def audio_dir(dataset: str, split: str) -> Path:
    return local_audio_dir(raw_dir(dataset), "clotho", split)


def metadata_csv(dataset: str, split: str) -> Path:
    """Clotho's per-clip metadata (Freesound sound id, keywords, licence) of a split."""
    return local_metadata_csv(raw_dir(dataset), "clotho", split)


# Where a local Clotho copy keeps its CSVs and split folders, relative to its root:
# (CSV folder, audio folder). "clotho": the unpacked Zenodo archives (the CSVs beside
# {split}/); "aac-datasets": what aac-datasets writes under {root}/CLOTHO_v2.1/.
LOCAL_LAYOUTS = {"clotho": ("", ""), "aac-datasets": ("clotho_csv_files", "clotho_audio_files")}
AAC_DATASETS_FOLDER = "CLOTHO_v2.1"  # aac-datasets' folder under the root it is given


def local_captions_csv(root: Path, layout: str, split: str) -> Path:
    """A local Clotho copy's caption CSV of a split (``root``: the folder the layout starts at)."""
    return root / LOCAL_LAYOUTS[layout][0] / f"clotho_captions_{split}.csv"


def local_metadata_csv(root: Path, layout: str, split: str) -> Path:
    return root / LOCAL_LAYOUTS[layout][0] / f"clotho_metadata_{split}.csv"


def local_audio_dir(root: Path, layout: str, split: str) -> Path:
    return root / LOCAL_LAYOUTS[layout][1] / split


def manifest_dir(dataset: str) -> Path:
    """The split manifests, the local check and the split audit of a dataset."""
    return DATA / "manifest" / dataset


def manifest_csv(dataset: str, split: str) -> Path:
    return manifest_dir(dataset) / f"{split}.csv"


def local_check_json(dataset: str) -> Path:
    """What ``maac local-check`` found in a local dataset folder: layout, files, md5 sums."""
    return manifest_dir(dataset) / "local_check.json"


def audit_json(dataset: str) -> Path:
    """The split audit: clips whose audio or Freesound sound id is in more than one split."""
    return manifest_dir(dataset) / "audit.json"


def audit_csv(dataset: str) -> Path:
    """The split audit's summary, one row per check (the Snakemake report's table)."""
    return manifest_dir(dataset) / "audit.csv"


# NLTK resources downloaded by the project (when no NLTK_DATA has them)
NLTK_DIR = DATA / "nltk_data"


def pretrained_checkpoint(file: str) -> Path:
    return DATA / "pretrained" / file


def run_dir(run: str) -> Path:
    return RESULTS / run


def log_file(run: str, group: str, job: str) -> Path:
    """logs/{run}/{group}/{job}.log: what one job printed (``job`` holds its wildcards)."""
    return LOGS / run / group / f"{job}.log"


def features_dir(dataset: str) -> Path:
    return DATA / "features" / dataset


def features_h5(dataset: str, split: str) -> Path:
    """Log-mel frames of every clip of a split (HDF5)."""
    return features_dir(dataset) / f"{split}.h5"


def text_dir(dataset: str) -> Path:
    """Vocabulary, keyword table, encoded captions and keyword labels of a dataset."""
    return DATA / "text" / dataset


def vocab_json(dataset: str) -> Path:
    """The vocabulary of the training split's captions."""
    return text_dir(dataset) / "vocab.json"


def keywords_csv(dataset: str) -> Path:
    """The keyword table (training split): the classes of the encoder's keyword head."""
    return text_dir(dataset) / "keywords.csv"


def text_summary_json(dataset: str) -> Path:
    """What ``maac text build`` made: vocabulary size, keyword count, per-split label stats."""
    return text_dir(dataset) / "summary.json"


def captions_jsonl(dataset: str, split: str) -> Path:
    """A split's captions as token ids, one JSON object per clip."""
    return text_dir(dataset) / f"captions_{split}.jsonl"


def labels_npz(dataset: str, split: str) -> Path:
    """A split's keyword labels (clips x keywords, uint8)."""
    return text_dir(dataset) / f"labels_{split}.npz"


def model_dir(run: str, variant: str, seed: int | str) -> Path:
    """Checkpoints, captions and metrics of one captioner variant and seed."""
    return RESULTS / run / variant / f"seed{seed}"


def encoder_dir(run: str, phase: str) -> Path:
    """results/{run}/encoder/{phase}/: best.pt, last.pt, metrics.json."""
    return run_dir(run) / "encoder" / phase


def captioner_dir(run: str, variant: str, seed: int | str, phase: str) -> Path:
    """results/{run}/{variant}/seed{seed}/{phase}/ (phase ce or rl): best.pt, last.pt, metrics."""
    return run_dir(run) / variant / f"seed{seed}" / phase


# the files of one training stage's folder (encoder_dir, captioner_dir)
def best_pt(stage_dir: Path | str) -> Path:
    """The checkpoint of the stage's best validation epoch."""
    return Path(stage_dir) / "best.pt"


def last_pt(stage_dir: Path | str) -> Path:
    """The final training state (what a later stage may start from)."""
    return Path(stage_dir) / "last.pt"


def stage_metrics_json(stage_dir: Path | str) -> Path:
    """Per-epoch history, best epoch and value, timings and the MLflow run id of a stage."""
    return Path(stage_dir) / "metrics.json"


def state_pt(stage_dir: Path | str) -> Path:
    """The state after the last finished epoch (a killed job resumes from it)."""
    return Path(stage_dir) / "state.pt"


def decoded_csv(run: str, variant: str, seed: int | str, phase: str, split: str) -> Path:
    """Beam-search captions of a phase's (ce, rl) best checkpoint on a split."""
    return model_dir(run, variant, seed) / f"captions_{phase}_{split}.csv"


def bundle(run: str, variant: str, seed: int | str) -> Path:
    """The model bundle of a variant and seed (``maac caption`` reads it)."""
    return model_dir(run, variant, seed) / "model.bundle"


def metrics_json(run: str, variant: str, seed: int | str, phase: str, split: str) -> Path:
    """aac-metrics scores of a phase's (ce, rl) captions of a split."""
    return model_dir(run, variant, seed) / f"metrics_{phase}_{split}.json"


def scores_csv(run: str, variant: str, seed: int | str, phase: str, split: str) -> Path:
    """Per-clip scores of a phase's captions of a split (one row per clip)."""
    return model_dir(run, variant, seed) / f"scores_{phase}_{split}.csv"


def table(run: str, name: str, ext: str) -> Path:
    """results/{run}/table1.md and the like."""
    return RESULTS / run / f"{name}.{ext}"


# Tables 1-2 each as Markdown, HTML and CSV, and their comparisons as Markdown and CSV
TABLES = ("table1", "table2")
TABLE_FILES = (("md", "", "md"), ("html", "", "html"), ("csv", "", "csv"),
               ("comparisons_md", "_comparisons", "md"),
               ("comparisons_csv", "_comparisons", "csv"))


def table_files(run: str, name: str) -> dict[str, Path]:
    """The files of one table: {"md", "html", "csv", "comparisons_md", "comparisons_csv"}."""
    return {key: table(run, f"{name}{suffix}", ext) for key, suffix, ext in TABLE_FILES}


def intervals_json(run: str) -> Path:
    """Every interval and comparison of the tables (the forest plot reads it)."""
    return table(run, "intervals", "json")


def figures_dir(run: str) -> Path:
    return run_dir(run) / "figures"


def figure(run: str, name: str) -> Path:
    """results/{run}/figures/{name}.png (attention, training_curves, intervals)."""
    return figures_dir(run) / f"{name}.png"


# `maac bench` writes its report here unless told otherwise (--out)
BENCH = RESULTS / "bench"


def bench_report(folder: Path, ext: str) -> Path:
    """The CPU benchmarks' report in ``folder``: bench.json (every figure) or bench.md."""
    return folder / f"bench.{ext}"


def gpu_bench_json(folder: Path, quick: bool) -> Path:
    """``maac bench gpu``'s measurements in ``folder`` (the quick run's file apart)."""
    return folder / ("gpu_quick.json" if quick else "gpu.json")


# `dvc metrics show` reads this folder (in git, for `dvc metrics diff`): flat JSON per model
DVC_SCORES = RESULTS / "scores"
# a model's mean over seeds, then the lower and upper bound of its bootstrap interval
SCORE_KINDS = ("mean", "lower", "upper")


def dvc_scores(run: str, model: str, kind: str) -> Path:
    """results/scores/{run}/{model}.json (mean) or {model}.lower.json / {model}.upper.json."""
    return DVC_SCORES / run / (f"{model}.json" if kind == "mean" else f"{model}.{kind}.json")
