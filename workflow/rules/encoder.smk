"""Training stage 1: the keyword encoder (paper Eq. 1-2), phase frozen then finetune.

Outputs in results/{run}/encoder/{frozen,finetune}/: best.pt (best validation mAP), last.pt
(the final training state) and metrics.json. While a job runs, its training state is
params.state (state.pt beside them); a killed job's rerun resumes from it. The command gets each
file it reads and writes by name. params.settings = the stage's own config sections
(maac.training.settings).
"""

import os
import uuid

from maac.training.settings import settings_json

# One MLflow parent run per snakemake invocation: every job inherits this id (maac.tracking).
os.environ.setdefault("MAAC_PIPELINE_ID", uuid.uuid4().hex)

ENCODER_FROZEN = str(paths.encoder_dir(config["run"], "frozen"))
ENCODER_FINETUNE = str(paths.encoder_dir(config["run"], "finetune"))
TRAIN_SPLIT = config["dataset"]["splits"]["train"]
VALIDATION_SPLIT = config["dataset"]["splits"]["validation"]
# The inputs both phases read, by the names of the `maac train encoder` options
ENCODER_INPUTS = {
    "features_train": str(paths.features_h5(DATASET, TRAIN_SPLIT)),
    "features_validation": str(paths.features_h5(DATASET, VALIDATION_SPLIT)),
    "labels_train": str(paths.labels_npz(DATASET, TRAIN_SPLIT)),
    "labels_validation": str(paths.labels_npz(DATASET, VALIDATION_SPLIT)),
    "keywords": str(paths.keywords_csv(DATASET)),
    "vocab": str(paths.vocab_json(DATASET)),
}
# PANNs' checkpoint fits the full-width encoder only
ENCODER_PRETRAINED = (
    [str(paths.pretrained_checkpoint(config["pretrained"]["file"]))] if uses_pretrained() else []
)
# The options naming a stage's files: its inputs, then best/last/metrics and the state
STAGE_FILES = (
    "--features-train {input.features_train:q} --features-validation {input.features_validation:q}"
    " --keywords {input.keywords:q} --vocab {input.vocab:q}"
    " --best {output.best:q} --last {output.last:q} --metrics {output.metrics:q}"
    " --state {params.state:q}"
)


rule encoder_frozen:
    input:
        **ENCODER_INPUTS,
        pretrained=ENCODER_PRETRAINED,
    output:
        best=str(paths.best_pt(ENCODER_FROZEN)),
        last=str(paths.last_pt(ENCODER_FROZEN)),
        metrics=str(paths.stage_metrics_json(ENCODER_FROZEN)),
    params:
        settings=settings_json(config, "encoder_frozen"),
        state=str(paths.state_pt(ENCODER_FROZEN)),
        pretrained=lambda wildcards, input: (
            ["--pretrained", input.pretrained[0]] if input.pretrained else []
        ),
    threads: 8
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        MAAC_ENV
    log:
        log_path("encoder", "frozen"),
    shell:
        "maac train encoder --phase frozen --settings {params.settings:q}"
        " --labels-train {input.labels_train:q} --labels-validation {input.labels_validation:q}"
        f" {STAGE_FILES} {{params.pretrained:q}} --threads {{threads}} 2>&1 | tee {{log:q}}"


rule encoder_finetune:
    input:
        init=rules.encoder_frozen.output.best,
        **ENCODER_INPUTS,
    output:
        best=str(paths.best_pt(ENCODER_FINETUNE)),
        last=str(paths.last_pt(ENCODER_FINETUNE)),
        metrics=str(paths.stage_metrics_json(ENCODER_FINETUNE)),
    params:
        settings=settings_json(config, "encoder_finetune"),
        state=str(paths.state_pt(ENCODER_FINETUNE)),
    threads: 8
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        MAAC_ENV
    log:
        log_path("encoder", "finetune"),
    shell:
        "maac train encoder --phase finetune --settings {params.settings:q} --init {input.init:q}"
        " --labels-train {input.labels_train:q} --labels-validation {input.labels_validation:q}"
        f" {STAGE_FILES} --threads {{threads}} 2>&1 | tee {{log:q}}"
