"""Text layer: vocabulary, keyword table, encoded captions and keyword labels (training split)."""

from pathlib import Path

TEXT = str(paths.text_dir(DATASET))
TEXT_KEYWORDS = config["text"]["keywords"]


rule text:
    input:
        train=str(paths.manifest_csv(DATASET, config["dataset"]["splits"]["train"])),
        manifests=[str(paths.manifest_csv(DATASET, split)) for split in SPLITS],
    output:
        vocab=f"{TEXT}/vocab.json",
        keywords=f"{TEXT}/keywords.csv",
        captions=[f"{TEXT}/captions_{split}.jsonl" for split in SPLITS],
        labels=[f"{TEXT}/labels_{split}.npz" for split in SPLITS],
        summary=f"{TEXT}/summary.json",
    params:
        out_dir=lambda wildcards, output: str(Path(output.vocab).parent),
        keyword_count=TEXT_KEYWORDS["count"],
        min_length=TEXT_KEYWORDS["min_length"],
        stopwords=",".join(TEXT_KEYWORDS["stopwords"]),
    conda:
        MAAC_ENV,
    log:
        f"{LOGS}/text/text.log",
    shell:
        "maac text build --train {input.train:q} --manifests {input.manifests:q}"
        " --out-dir {params.out_dir:q} --count {params.keyword_count} --min-length {params.min_length}"
        " --stopwords {params.stopwords:q} 2>&1 | tee {log:q}"
