"""Shared definitions: artifact paths (from maac.paths), the dataset's splits, rule all's targets."""

from maac import paths

DATASET = config["dataset"]["name"]
SPLITS = sorted(set(config["dataset"]["splits"].values()))
MAAC_ENV = "../../environment.yml"  # every rule runs the maac command of this environment
LOGS = f"logs/{config['run']}"


def uses_pretrained():
    """The PANNs checkpoint only fits the full-width encoder."""
    return config["encoder"]["width"] == 1.0


def all_targets():
    targets = [str(paths.manifest_csv(DATASET, split)) for split in SPLITS]
    targets += [str(paths.features_h5(DATASET, split)) for split in SPLITS]
    targets += text_outputs()
    if config["dataset"]["source"] == "zenodo":  # metadata CSVs too: the full record
        targets += [str(paths.raw_dir(DATASET) / n) for n in config["dataset"]["zenodo"]["files"]]
    if uses_pretrained():
        targets.append(str(paths.pretrained_checkpoint(config["pretrained"]["file"])))
    return targets


def manifest_inputs(wildcards):
    """A synthetic dataset is one folder output; Clotho's split = its caption CSV + audio folder."""
    if config["dataset"]["source"] == "synth":
        return [str(paths.raw_dir(DATASET))]
    return [
        str(paths.captions_csv(DATASET, wildcards.split)),
        str(paths.audio_dir(DATASET, wildcards.split)),
    ]


def cli_flags(section):
    """A config section as command-line flags: {"n_fft": 1024} -> "--n-fft 1024"."""
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in section.items())


def text_outputs():
    """Every artifact of rule text (data/text/{dataset}/)."""
    out = paths.text_dir(DATASET)
    files = ["vocab.json", "keywords.csv", "summary.json"]
    files += [f"captions_{s}.jsonl" for s in SPLITS] + [f"labels_{s}.npz" for s in SPLITS]
    return [str(out / f) for f in files]
