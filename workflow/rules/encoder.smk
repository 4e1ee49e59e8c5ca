"""Training stage 1: the keyword encoder (paper Eq. 1-2), phase frozen then finetune.

Outputs in results/{run}/encoder/{frozen,finetune}/: best.pt (best validation mAP), last.pt
(the final training state) and metrics.json. A killed job leaves state.pt there; the rerun
resumes from it. params = the stage's own config sections (maac.training.settings).
"""

import os
import shlex
import uuid

from maac.text.build import labels_npz
from maac.training.settings import settings_json

# One MLflow parent run per snakemake invocation: every job inherits this id (maac.tracking).
os.environ.setdefault("MAAC_PIPELINE_ID", uuid.uuid4().hex)

ENCODER_FROZEN = str(paths.encoder_dir(config["run"], "frozen"))
ENCODER_FINETUNE = str(paths.encoder_dir(config["run"], "finetune"))
ENCODER_SPLITS = [config["dataset"]["splits"][s] for s in ("train", "validation")]
ENCODER_FEATURES = [str(paths.features_h5(DATASET, s)) for s in ENCODER_SPLITS]
ENCODER_TEXT = [str(labels_npz(paths.text_dir(DATASET), s)) for s in ENCODER_SPLITS] + [
    str(paths.text_dir(DATASET) / "keywords.csv"),
    str(paths.text_dir(DATASET) / "vocab.json"),
]
# PANNs' checkpoint fits the full-width encoder only
ENCODER_PRETRAINED = (
    [str(paths.pretrained_checkpoint(config["pretrained"]["file"]))] if uses_pretrained() else []
)


rule encoder_frozen:
    input:
        features=ENCODER_FEATURES,
        text=ENCODER_TEXT,
        pretrained=ENCODER_PRETRAINED,
    output:
        best=f"{ENCODER_FROZEN}/best.pt",
        last=f"{ENCODER_FROZEN}/last.pt",
        metrics=f"{ENCODER_FROZEN}/metrics.json",
    params:
        settings=settings_json(config, "encoder_frozen"),
        pretrained=lambda wildcards, input: (
            f"--pretrained {shlex.quote(input.pretrained[0])}" if input.pretrained else ""
        ),
        features_dir=lambda wildcards, input: os.path.dirname(input.features[0]),
        text_dir=lambda wildcards, input: os.path.dirname(input.text[0]),
        out_dir=lambda wildcards, output: os.path.dirname(output.best),
    threads: 8
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/encoder/frozen.log",
    shell:
        "maac train encoder --phase frozen --settings {params.settings:q}"
        " --features-dir {params.features_dir:q} --text-dir {params.text_dir:q}"
        " {params.pretrained} --out-dir {params.out_dir:q} --threads {threads} 2>&1 | tee {log:q}"


rule encoder_finetune:
    input:
        init=f"{ENCODER_FROZEN}/best.pt",
        features=ENCODER_FEATURES,
        text=ENCODER_TEXT,
    output:
        best=f"{ENCODER_FINETUNE}/best.pt",
        last=f"{ENCODER_FINETUNE}/last.pt",
        metrics=f"{ENCODER_FINETUNE}/metrics.json",
    params:
        settings=settings_json(config, "encoder_finetune"),
        features_dir=lambda wildcards, input: os.path.dirname(input.features[0]),
        text_dir=lambda wildcards, input: os.path.dirname(input.text[0]),
        out_dir=lambda wildcards, output: os.path.dirname(output.best),
    threads: 8
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/encoder/finetune.log",
    shell:
        "maac train encoder --phase finetune --settings {params.settings:q} --init {input.init:q}"
        " --features-dir {params.features_dir:q} --text-dir {params.text_dir:q}"
        " --out-dir {params.out_dir:q} --threads {threads} 2>&1 | tee {log:q}"
