"""Training stages 2 and 3: the captioner with cross-entropy, then self-critical CIDEr-D.

Per variant (the paper's Table 2) and seed: results/{run}/{variant}/seed{seed}/{ce,rl}/ with
best.pt (best validation CIDEr-D), last.pt and metrics.json. RL starts from the CE checkpoint
named by captioner.rl.start_from. params = the stage's own config sections.
"""

import os
import uuid

from maac.models.variants import VARIANTS
from maac.text.build import captions_jsonl
from maac.training.settings import settings_json

os.environ.setdefault("MAAC_PIPELINE_ID", uuid.uuid4().hex)  # one MLflow parent run

CAPTIONER_CE_DIR = str(paths.captioner_dir(config["run"], "{variant}", "{seed}", "ce"))
CAPTIONER_RL_DIR = str(paths.captioner_dir(config["run"], "{variant}", "{seed}", "rl"))
CAPTIONER_SPLITS = [config["dataset"]["splits"][s] for s in ("train", "validation")]
CAPTIONER_FEATURES = [str(paths.features_h5(DATASET, s)) for s in CAPTIONER_SPLITS]
CAPTIONER_TEXT = [str(captions_jsonl(paths.text_dir(DATASET), s)) for s in CAPTIONER_SPLITS] + [
    str(paths.text_dir(DATASET) / "keywords.csv"),
    str(paths.text_dir(DATASET) / "vocab.json"),
]


rule captioner_ce:
    input:
        encoder=str(paths.encoder_dir(config["run"], "finetune") / "best.pt"),
        features=CAPTIONER_FEATURES,
        text=CAPTIONER_TEXT,
    wildcard_constraints:
        variant="|".join(VARIANTS),
        seed=r"\d+",
    output:
        best=f"{CAPTIONER_CE_DIR}/best.pt",
        last=f"{CAPTIONER_CE_DIR}/last.pt",
        metrics=f"{CAPTIONER_CE_DIR}/metrics.json",
    params:
        settings=settings_json(config, "captioner_ce"),
        out_dir=lambda wildcards, output: os.path.dirname(output.best),
        features_dir=lambda wildcards, input: os.path.dirname(input.features[0]),
        text_dir=lambda wildcards, input: os.path.dirname(input.text[0]),
    threads: 1  # the decoder's small per-step ops gain nothing from more CPU threads
    resources:
        mem_mb=16000,
        runtime=480,
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/captioner/{{variant}}_seed{{seed}}_ce.log",
    shell:
        "maac train captioner --stage ce --variant {wildcards.variant} --seed {wildcards.seed}"
        " --settings {params.settings:q} --init {input.encoder:q}"
        " --features-dir {params.features_dir:q} --text-dir {params.text_dir:q}"
        " --out-dir {params.out_dir:q} --threads {threads} 2>&1 | tee {log:q}"


rule captioner_rl:
    input:
        init=f"{CAPTIONER_CE_DIR}/{config['captioner']['rl']['start_from']}.pt",
        encoder=rules.encoder_finetune.output.best,  # the CE checkpoint holds the decoder only
        features=CAPTIONER_FEATURES,
        text=CAPTIONER_TEXT,
    wildcard_constraints:
        variant="|".join(VARIANTS),
        seed=r"\d+",
    output:
        best=f"{CAPTIONER_RL_DIR}/best.pt",
        last=f"{CAPTIONER_RL_DIR}/last.pt",
        metrics=f"{CAPTIONER_RL_DIR}/metrics.json",
    params:
        settings=settings_json(config, "captioner_rl"),
        out_dir=lambda wildcards, output: os.path.dirname(output.best),
        features_dir=lambda wildcards, input: os.path.dirname(input.features[0]),
        text_dir=lambda wildcards, input: os.path.dirname(input.text[0]),
    threads: 1  # sampling and CIDEr-D rewards run step by step
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/captioner/{{variant}}_seed{{seed}}_rl.log",
    shell:
        "maac train captioner --stage rl --variant {wildcards.variant} --seed {wildcards.seed}"
        " --settings {params.settings:q} --init {input.init:q} --encoder {input.encoder:q}"
        " --features-dir {params.features_dir:q} --text-dir {params.text_dir:q}"
        " --out-dir {params.out_dir:q} --threads {threads} 2>&1 | tee {log:q}"
