"""Evaluation layer: beam-search captions, aac-metrics scores, model bundles, tables, Fig. 2."""

from maac.dvc_stages import scores_files

RUN = str(paths.run_dir(config["run"]))
MODEL = f"{RUN}/{{variant}}/seed{{seed}}"
TEXT_DIR = str(paths.text_dir(DATASET))


rule decode:
    input:
        checkpoint=f"{MODEL}/{{stage}}/best.pt",
        encoder=rules.encoder_finetune.output.best,  # captioner checkpoints: the decoder only
        features=str(paths.features_h5(DATASET, "{split}")),
        vocab=f"{TEXT_DIR}/vocab.json",
    output:
        f"{MODEL}/captions_{{stage}}_{{split}}.csv",
    params:
        beam=config["decoding"]["beam_size"],
        max_length=config["decoding"]["max_length"],
        length_penalty=config["decoding"]["length_penalty"],
    threads: 2
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/decode/{{variant}}_seed{{seed}}_{{stage}}_{{split}}.log",
    shell:
        "maac decode --checkpoint {input.checkpoint:q} --encoder {input.encoder:q}"
        " --features {input.features:q}"
        " --vocab {input.vocab:q} --out {output:q} --beam {params.beam}"
        " --max-length {params.max_length} --length-penalty {params.length_penalty}"
        " 2>&1 | tee {log:q}"


rule evaluate:
    input:
        captions=f"{MODEL}/captions_{{stage}}_{{split}}.csv",
        references=reference_inputs,
    output:
        metrics=f"{MODEL}/metrics_{{stage}}_{{split}}.json",
        scores=f"{MODEL}/scores_{{stage}}_{{split}}.csv",
    params:
        references=lambda wildcards: split_captions(wildcards.split),
        run=config["run"],
        resamples=config["statistics"]["resamples"],
        seed=config["statistics"]["seed"],
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/evaluate/{{variant}}_seed{{seed}}_{{stage}}_{{split}}.log",
    shell:
        "maac evaluate {input.captions:q} {params.references:q} --out {output.metrics:q}"
        " --scores {output.scores:q} --run {params.run:q} --variant {wildcards.variant}"
        " --seed {wildcards.seed} --stage {wildcards.stage} --split {wildcards.split}"
        " --resamples {params.resamples} --bootstrap-seed {params.seed}"
        " 2>&1 | tee {log:q}"


rule bundle:
    input:
        checkpoint=lambda wildcards: f"{RUN}/{wildcards.variant}/seed{wildcards.seed}/"
        f"{final_stage(wildcards.variant)}/best.pt",
        encoder=rules.encoder_finetune.output.best,
        vocab=f"{TEXT_DIR}/vocab.json",
        keywords=f"{TEXT_DIR}/keywords.csv",
    output:
        f"{MODEL}/model.bundle",
    params:
        settings=lambda wildcards: sections_json("audio", "decoding"),
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/bundle/{{variant}}_seed{{seed}}.log",
    shell:
        "maac bundle --checkpoint {input.checkpoint:q} --encoder {input.encoder:q}"
        " --vocab {input.vocab:q}"
        " --keywords {input.keywords:q} --settings {params.settings:q} --out {output:q}"
        " 2>&1 | tee {log:q}"


# The report's menu sorts categories by name: the numbers keep tables first, then figures.
TABLES, FIGURES, DATA = "1. Tables", "2. Figures", "3. Tables as CSV"


rule tables:
    input:
        metrics_targets,
    output:
        table1=f"{RUN}/table1.md",
        table1_html=report(f"{RUN}/table1.html", caption="../report/table1.rst",
                           category=TABLES, labels={"table": "Table 1"}),
        table1_csv=report(f"{RUN}/table1.csv", caption="../report/table1.rst", category=DATA,
                          labels={"file": "Table 1"}),
        table1_comparisons=f"{RUN}/table1_comparisons.md",
        table1_comparisons_csv=report(f"{RUN}/table1_comparisons.csv",
                                      caption="../report/comparisons.rst", category=DATA,
                                      labels={"file": "Table 1, comparisons"}),
        table2=f"{RUN}/table2.md",
        table2_html=report(f"{RUN}/table2.html", caption="../report/table2.rst",
                           category=TABLES, labels={"table": "Table 2"}),
        table2_csv=report(f"{RUN}/table2.csv", caption="../report/table2.rst", category=DATA,
                          labels={"file": "Table 2"}),
        table2_comparisons=f"{RUN}/table2_comparisons.md",
        table2_comparisons_csv=report(f"{RUN}/table2_comparisons.csv",
                                      caption="../report/comparisons.rst", category=DATA,
                                      labels={"file": "Table 2, comparisons"}),
        intervals=f"{RUN}/intervals.json",
        # results/scores/{run}/: what `dvc metrics show` reads (named by maac/dvc_stages.py)
        dvc_scores=[str(path) for path in scores_files(config)],
    params:
        settings=lambda wildcards: sections_json("run", "seeds", "variants", "dataset",
                                                 "statistics"),
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/tables.log",
    shell:
        "maac tables --settings {params.settings:q} 2>&1 | tee {log:q}"


rule forest_plot:
    input:
        f"{RUN}/intervals.json",
    output:
        report(
            f"{RUN}/figures/intervals.png",
            caption="../report/intervals.rst",
            category=FIGURES,
            labels={"figure": "CIDEr-D intervals of every model"},
        ),
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/forest_plot.log",
    shell:
        "maac figure intervals {input:q} --out {output:q} 2>&1 | tee {log:q}"


rule attention_figure:
    input:
        bundle=f"{RUN}/{MAIN_VARIANT}/seed{config['seeds'][0]}/model.bundle",
        features=str(paths.features_h5(DATASET, config["dataset"]["splits"]["test"])),
    output:
        report(
            f"{RUN}/figures/attention.png",
            caption="../report/attention.rst",
            category=FIGURES,
            labels={"figure": "Fig. 2: keyword and previous-word attention"},
        ),
    params:
        max_length=config["decoding"]["max_length"],
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/attention_figure.log",
    shell:
        "maac figure attention --model {input.bundle:q} --features {input.features:q}"
        " --count 3 --max-length {params.max_length} --out {output:q} 2>&1 | tee {log:q}"


rule training_curves:
    input:
        training_targets(),
    output:
        report(
            f"{RUN}/figures/training_curves.png",
            caption="../report/curves.rst",
            category=FIGURES,
            labels={"figure": "training curves of every stage"},
        ),
    conda:
        MAAC_ENV
    log:
        f"{LOGS}/training_curves.log",
    shell:
        "maac figure curves {input:q} --out {output:q} 2>&1 | tee {log:q}"
