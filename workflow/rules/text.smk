"""Text layer: vocabulary, keyword table, encoded captions and keyword labels (training split)."""

rule text:
    input:
        train=str(paths.manifest_csv(DATASET, config["dataset"]["splits"]["train"])),
        manifests=[str(paths.manifest_csv(DATASET, split)) for split in SPLITS],
    output:
        vocab=str(paths.vocab_json(DATASET)),
        keywords=str(paths.keywords_csv(DATASET)),
        # one of each per manifest, in the manifests' order
        captions=[str(paths.captions_jsonl(DATASET, split)) for split in SPLITS],
        labels=[str(paths.labels_npz(DATASET, split)) for split in SPLITS],
        summary=str(paths.text_summary_json(DATASET)),
    params:
        settings=sections_json("text"),
    conda:
        MAAC_ENV,
    log:
        log_path("text", "text"),
    shell:
        "maac text build --train {input.train:q} --manifests {input.manifests:q}"
        " --vocab {output.vocab:q} --keywords {output.keywords:q}"
        " --captions {output.captions:q} --labels {output.labels:q}"
        " --summary {output.summary:q} --settings {params.settings:q} 2>&1 | tee {log:q}"
