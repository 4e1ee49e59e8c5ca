"""Training stages 2 and 3: the captioner with cross-entropy, then self-critical CIDEr-D.

Per variant (the paper's Table 2) and seed: results/{run}/{variant}/seed{seed}/{ce,rl}/ with
best.pt (best validation CIDEr-D), last.pt and metrics.json (params.state while running). RL
starts from the CE checkpoint named by captioner.rl.start_from. The command gets each file it
reads and writes by name; params.settings = the stage's own config sections.
"""

import os
import uuid

from maac.models.variants import VARIANTS

os.environ.setdefault("MAAC_PIPELINE_ID", uuid.uuid4().hex)  # one MLflow parent run

CAPTIONER_CE_DIR = str(paths.captioner_dir(config["run"], "{variant}", "{seed}", "ce"))
CAPTIONER_RL_DIR = str(paths.captioner_dir(config["run"], "{variant}", "{seed}", "rl"))
# The inputs both stages read, by the names of the `maac train captioner` options
CAPTIONER_INPUTS = {
    **{k: ENCODER_INPUTS[k] for k in ("features_train", "features_validation")},
    "captions_train": str(paths.captions_jsonl(DATASET, TRAIN_SPLIT)),
    "captions_validation": str(paths.captions_jsonl(DATASET, VALIDATION_SPLIT)),
    **{k: ENCODER_INPUTS[k] for k in ("keywords", "vocab")},
}
CAPTIONS = (
    "--captions-train {input.captions_train:q}"
    " --captions-validation {input.captions_validation:q}"
)


rule captioner_ce:
    input:
        encoder=rules.encoder_finetune.output.best,
        **CAPTIONER_INPUTS,
    wildcard_constraints:
        variant="|".join(VARIANTS),
        seed=r"\d+",
    output:
        best=str(paths.best_pt(CAPTIONER_CE_DIR)),
        last=str(paths.last_pt(CAPTIONER_CE_DIR)),
        metrics=str(paths.stage_metrics_json(CAPTIONER_CE_DIR)),
    params:
        settings=settings_json(config, "captioner_ce"),
        state=str(paths.state_pt(CAPTIONER_CE_DIR)),
    threads: 1  # the decoder's small per-step ops gain nothing from more CPU threads
    resources:
        mem_mb=16000,
        runtime=480,
    conda:
        MAAC_ENV
    log:
        log_path("captioner", "{variant}_seed{seed}_ce"),
    shell:
        "maac train captioner --phase ce --variant {wildcards.variant} --seed {wildcards.seed}"
        " --settings {params.settings:q} --init {input.encoder:q}"
        f" {CAPTIONS} {STAGE_FILES} --threads {{threads}} 2>&1 | tee {{log:q}}"


rule captioner_rl:
    input:
        init=getattr(rules.captioner_ce.output, config["captioner"]["rl"]["start_from"]),
        encoder=rules.encoder_finetune.output.best,  # the CE checkpoint holds the decoder only
        **CAPTIONER_INPUTS,
    wildcard_constraints:
        variant="|".join(VARIANTS),
        seed=r"\d+",
    output:
        best=str(paths.best_pt(CAPTIONER_RL_DIR)),
        last=str(paths.last_pt(CAPTIONER_RL_DIR)),
        metrics=str(paths.stage_metrics_json(CAPTIONER_RL_DIR)),
    params:
        settings=settings_json(config, "captioner_rl"),
        state=str(paths.state_pt(CAPTIONER_RL_DIR)),
    threads: 1  # sampling and CIDEr-D rewards run step by step
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        MAAC_ENV
    log:
        log_path("captioner", "{variant}_seed{seed}_rl"),
    shell:
        "maac train captioner --phase rl --variant {wildcards.variant} --seed {wildcards.seed}"
        " --settings {params.settings:q} --init {input.init:q} --encoder {input.encoder:q}"
        f" {CAPTIONS} {STAGE_FILES} --threads {{threads}} 2>&1 | tee {{log:q}}"
