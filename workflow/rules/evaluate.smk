"""Evaluation layer: beam-search captions, aac-metrics scores, model bundles, tables, Fig. 2."""

from maac.dvc_stages import scores_files

RUN_NAME = config["run"]
# one (variant, seed, phase, split) of the wildcards
WILD = ("{variant}", "{seed}", "{phase}", "{split}")


rule decode:
    input:
        checkpoint=str(paths.best_pt(paths.captioner_dir(RUN_NAME, *WILD[:3]))),
        encoder=rules.encoder_finetune.output.best,  # captioner checkpoints: the decoder only
        features=str(paths.features_h5(DATASET, "{split}")),
        vocab=rules.text.output.vocab,
    output:
        str(paths.decoded_csv(RUN_NAME, *WILD)),
    params:
        settings=sections_json("decoding"),
    threads: 2
    conda:
        MAAC_ENV
    log:
        log_path("decode", "{variant}_seed{seed}_{phase}_{split}"),
    shell:
        "maac decode --checkpoint {input.checkpoint:q} --encoder {input.encoder:q}"
        " --features {input.features:q}"
        " --vocab {input.vocab:q} --out {output:q} --settings {params.settings:q}"
        " 2>&1 | tee {log:q}"


rule evaluate:
    input:
        captions=rules.decode.output[0],
        references=lambda wildcards: split_captions(wildcards.split),
    output:
        metrics=str(paths.metrics_json(RUN_NAME, *WILD)),
        scores=str(paths.scores_csv(RUN_NAME, *WILD)),
    params:
        run=config["run"],
        settings=sections_json("statistics"),
    conda:
        MAAC_ENV
    log:
        log_path("evaluate", "{variant}_seed{seed}_{phase}_{split}"),
    shell:
        "maac evaluate {input.captions:q} {input.references:q} --out {output.metrics:q}"
        " --scores {output.scores:q} --run {params.run:q} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --phase {wildcards.phase} --split {wildcards.split}"
        " --settings {params.settings:q} 2>&1 | tee {log:q}"


rule bundle:
    input:
        checkpoint=lambda wildcards: str(paths.best_pt(paths.captioner_dir(
            RUN_NAME, wildcards.variant, wildcards.seed, final_phase(wildcards.variant)))),
        encoder=rules.encoder_finetune.output.best,
        vocab=rules.text.output.vocab,
        keywords=rules.text.output.keywords,
    output:
        str(paths.bundle(RUN_NAME, "{variant}", "{seed}")),
    params:
        settings=lambda wildcards: sections_json("audio", "decoding"),
    conda:
        MAAC_ENV
    log:
        log_path("bundle", "{variant}_seed{seed}"),
    shell:
        "maac bundle --checkpoint {input.checkpoint:q} --encoder {input.encoder:q}"
        " --vocab {input.vocab:q}"
        " --keywords {input.keywords:q} --settings {params.settings:q} --out {output:q}"
        " 2>&1 | tee {log:q}"


rule tables:
    input:
        **evaluation_inputs(),
    output:
        **{f"{name}_{key}": table_output(name, key) for name in paths.TABLES
           for key, _, _ in paths.TABLE_FILES},
        intervals=str(paths.intervals_json(RUN_NAME)),
        # results/scores/{run}/: what `dvc metrics show` reads (named by maac/dvc_stages.py)
        dvc_scores=[str(path) for path in scores_files(config)],
    params:
        settings=lambda wildcards: sections_json("run", "seeds", "variants", "dataset",
                                                 "statistics"),
        models=evaluation_models(),
        tables=table_flags,
    conda:
        MAAC_ENV
    log:
        log_path("report", "tables"),
    shell:
        "maac tables --settings {params.settings:q} --models {params.models}"
        " --metrics {input.metrics:q} --scores {input.scores:q}"
        " --summaries {input.summaries:q} {params.tables}"
        " --intervals {output.intervals:q} --dvc-scores {output.dvc_scores:q}"
        " 2>&1 | tee {log:q}"


rule forest_plot:
    input:
        rules.tables.output.intervals,
    output:
        report(
            str(paths.figure(RUN_NAME, "intervals")),
            caption="../report/intervals.rst",
            category=FIGURES,
            labels={"figure": "CIDEr-D intervals of every model"},
        ),
    conda:
        MAAC_ENV
    log:
        log_path("report", "forest_plot"),
    shell:
        "maac figure intervals {input:q} --out {output:q} 2>&1 | tee {log:q}"


rule attention_figure:
    input:
        bundle=str(paths.bundle(RUN_NAME, MAIN_VARIANT, config["seeds"][0])),
        features=str(paths.features_h5(DATASET, TEST_SPLIT)),
    output:
        report(
            str(paths.figure(RUN_NAME, "attention")),
            caption="../report/attention.rst",
            category=FIGURES,
            labels={"figure": "Fig. 2: keyword and previous-word attention"},
        ),
    params:
        max_length=config["decoding"]["max_length"],
    conda:
        MAAC_ENV
    log:
        log_path("report", "attention_figure"),
    shell:
        "maac figure attention --model {input.bundle:q} --features {input.features:q}"
        " --count 3 --max-length {params.max_length} --out {output:q} 2>&1 | tee {log:q}"


rule training_curves:
    input:
        training_targets(),
    output:
        report(
            str(paths.figure(RUN_NAME, "training_curves")),
            caption="../report/curves.rst",
            category=FIGURES,
            labels={"figure": "training curves of every stage"},
        ),
    conda:
        MAAC_ENV
    log:
        log_path("report", "training_curves"),
    shell:
        "maac figure curves {input:q} --out {output:q} 2>&1 | tee {log:q}"
