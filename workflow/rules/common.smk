"""Shared definitions: artifact paths (from maac.paths), the dataset's splits and where their
files are (downloaded, synthesised or local), rule all's targets."""

from maac import paths
from maac import variants
from maac.variants import captioner_stages, evaluated_phases, main_variant

DATASET = config["dataset"]["name"]
SOURCE = config["dataset"]["source"]  # zenodo, synth or local
SPLITS = sorted(set(config["dataset"]["splits"].values()))
MAAC_ENV = "../../environment.yml"  # every rule runs the maac command of this environment


def log_path(group, job):
    """A job's log file (paths.log_file): ``job`` is its name with its wildcards."""
    return str(paths.log_file(config["run"], group, job))


if SOURCE == "local":  # the folder is read in place; its layout is found once, here
    from maac.data.local import find_local

    LOCAL = find_local(config["dataset"]["local"]["path"],
                       config["dataset"]["local"].get("layout", "auto"), SPLITS)


def split_captions(split):
    """The caption CSV of a split: in data/raw/{dataset}/, or in the local folder."""
    if SOURCE == "local":
        return str(LOCAL.captions_csv(split))
    return str(paths.captions_csv(DATASET, split))


def split_audio(split):
    """The folder of a split's WAV files."""
    if SOURCE == "local":
        return str(LOCAL.audio_dir(split))
    return str(paths.audio_dir(DATASET, split))


def split_metadata():
    """{split: metadata CSV} of the splits that have one (Freesound sound ids for the audit)."""
    if SOURCE == "local":
        return {s: str(m) for s in SPLITS if (m := LOCAL.metadata_csv(s)) is not None}
    if SOURCE == "zenodo":
        names = config["dataset"]["zenodo"]["files"]
        return {s: str(paths.metadata_csv(DATASET, s)) for s in SPLITS
                if paths.metadata_csv(DATASET, s).name in names}
    return {s: str(paths.metadata_csv(DATASET, s)) for s in SPLITS}  # inside the synth folder


def uses_pretrained():
    """The PANNs checkpoint only fits the full-width encoder."""
    return config["encoder"]["width"] == 1.0


def all_targets():
    targets = [str(paths.manifest_csv(DATASET, split)) for split in SPLITS]
    targets += audit_outputs()
    targets += [str(paths.features_h5(DATASET, split)) for split in SPLITS]
    targets += text_outputs()
    targets += training_targets()
    targets += evaluation_targets()
    if config["dataset"]["source"] == "zenodo":  # metadata CSVs too: the full record
        targets += [str(paths.raw_file(DATASET, n)) for n in config["dataset"]["zenodo"]["files"]]
    if uses_pretrained():
        targets.append(str(paths.pretrained_checkpoint(config["pretrained"]["file"])))
    return targets


def manifest_inputs(wildcards):
    """A split's caption CSV and audio folder (synthesised, downloaded or local; a local one's
    after its check)."""
    files = {"captions": split_captions(wildcards.split), "audio": split_audio(wildcards.split)}
    if SOURCE == "local":
        files["check"] = str(paths.local_check_json(DATASET))
    return files


def local_check_inputs(wildcards=None):
    """The CSVs the local check reads (a changed file reruns it and what follows)."""
    return [str(p) for p in LOCAL.csv_files()]


def audit_outputs():
    return [str(paths.audit_json(DATASET)), str(paths.audit_csv(DATASET))]


def text_outputs():
    """Every artifact of rule text (data/text/{dataset}/)."""
    files = [paths.vocab_json(DATASET), paths.keywords_csv(DATASET),
             paths.text_summary_json(DATASET)]
    files += [paths.captions_jsonl(DATASET, s) for s in SPLITS]
    files += [paths.labels_npz(DATASET, s) for s in SPLITS]
    return [str(f) for f in files]


MAIN_VARIANT = main_variant(config)
TEST_SPLIT = config["dataset"]["splits"]["test"]


def final_phase(variant):
    """The paper optimises CIDEr-D (RL) for its full model only; the ablation stops at CE."""
    return variants.final_phase(config, variant)


def sections_json(*keys):
    """The config sections a rule depends on, as JSON for `--settings` (and as its params)."""
    import json

    return json.dumps({key: config[key] for key in keys}, sort_keys=True)


def evaluation_inputs():
    """The tables' inputs, one per (variant, seed, phase) of ``evaluated_phases``, in its order:
    test-split metrics, per-clip scores, the training stage's metrics.json (its run id)."""
    run, evaluated = config["run"], evaluated_phases(config)
    return {
        "metrics": [str(paths.metrics_json(run, v, s, ph, TEST_SPLIT)) for v, s, ph in evaluated],
        "scores": [str(paths.scores_csv(run, v, s, ph, TEST_SPLIT)) for v, s, ph in evaluated],
        "summaries": [str(paths.stage_metrics_json(paths.captioner_dir(run, v, s, ph)))
                      for v, s, ph in evaluated],
    }


def evaluation_models():
    """The labels of the tables' inputs: VARIANT:SEED:PHASE each."""
    return [f"{v}:{s}:{ph}" for v, s, ph in evaluated_phases(config)]


# The report's menu sorts categories by name: the numbers keep tables first, then figures.
TABLES, FIGURES, DATA = "1. Tables", "2. Figures", "3. Tables as CSV"


def table_output(name, key):
    """One output file of rule tables (a key of paths.table_files), in the report where a
    person reads it."""
    path = str(paths.table_files(config["run"], name)[key])
    number = name[-1]
    caption = "../report/comparisons.rst" if "comparisons" in key else f"../report/{name}.rst"
    if key == "html":
        return report(path, caption=caption, category=TABLES, labels={"table": f"Table {number}"})
    if key == "csv":
        return report(path, caption=caption, category=DATA, labels={"file": f"Table {number}"})
    if key == "comparisons_csv":
        return report(path, caption=caption, category=DATA,
                      labels={"file": f"Table {number}, comparisons"})
    return path


def table_flags(wildcards, output):
    """`maac tables`' flag of each table file: --table1-md FILE and so on."""
    import shlex

    return " ".join(f"--{name}-{key.replace('_', '-')} {shlex.quote(output[f'{name}_{key}'])}"
                    for name in paths.TABLES for key, _, _ in paths.TABLE_FILES)


def evaluation_targets():
    run = config["run"]
    bundles = [str(paths.bundle(run, v, s)) for v in config["variants"] for s in config["seeds"]]
    tables = [str(paths.table_files(run, name)[key]) for name in paths.TABLES
              for key in ("md", "csv", "comparisons_md", "comparisons_csv")]
    tables.append(str(paths.intervals_json(run)))
    figures = [str(paths.figure(run, name))
               for name in ("attention", "training_curves", "intervals")]
    return [*tables, *bundles, *figures]


def training_targets():
    """The training stages: both encoder phases, CE of every variant and seed, RL of maac."""
    run = config["run"]
    targets = [str(paths.stage_metrics_json(paths.encoder_dir(run, phase)))
               for phase in ("frozen", "finetune")]
    targets += [str(paths.stage_metrics_json(paths.captioner_dir(run, variant, seed, phase)))
                for variant, seed, phase in captioner_stages(config)]
    return targets
