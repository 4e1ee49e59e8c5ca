"""Text layer: vocabulary, keyword table, encoded captions and keyword labels (training split)."""

TEXT_KEYWORDS = config["text"]["keywords"]


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
        keyword_count=TEXT_KEYWORDS["count"],
        min_length=TEXT_KEYWORDS["min_length"],
        stopwords=",".join(TEXT_KEYWORDS["stopwords"]),
    conda:
        MAAC_ENV,
    log:
        f"{LOGS}/text/text.log",
    shell:
        "maac text build --train {input.train:q} --manifests {input.manifests:q}"
        " --vocab {output.vocab:q} --keywords {output.keywords:q}"
        " --captions {output.captions:q} --labels {output.labels:q}"
        " --summary {output.summary:q} --count {params.keyword_count}"
        " --min-length {params.min_length} --stopwords {params.stopwords:q} 2>&1 | tee {log:q}"
