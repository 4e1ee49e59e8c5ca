"""Data layer: download (Clotho, PANNs) or synthesise the dataset, then one manifest per split."""


# Downloads run where Snakemake runs (a cluster's login node usually has the internet access
# its compute nodes lack).
localrules:
    download_panns,


import re

RAW = str(paths.raw_dir(DATASET))


if config["dataset"]["source"] == "synth":

    rule synthesize:
        output:
            directory(RAW),
        params:
            seed=config["dataset"]["synth"]["seed"],
            clips=",".join(f"{s}={n}" for s, n in config["dataset"]["synth"]["clips"].items()),
            seconds=config["dataset"]["synth"]["seconds"],
        conda:
            MAAC_ENV,
        log:
            f"{LOGS}/data/synthesize.log",
        shell:
            "maac synth {output:q} --seed {params.seed} --clips {params.clips}"
            " --seconds {params.seconds} 2>&1 | tee {log:q}"

else:
    ZENODO = config["dataset"]["zenodo"]

    localrules:
        download_clotho,

    rule download_clotho:
        output:
            f"{RAW}/{{name}}",
        wildcard_constraints:
            name="|".join(re.escape(n) for n in ZENODO["files"]),
        params:
            url=lambda wildcards: ZENODO["url"].format(name=wildcards.name),
            md5=lambda wildcards: ZENODO["files"][wildcards.name],
        conda:
            MAAC_ENV,
        log:
            f"{LOGS}/data/download_{{name}}.log",
        shell:
            "maac download url {params.url:q} {output:q} --md5 {params.md5} 2>&1 | tee {log:q}"

    rule extract_clotho_audio:
        input:
            f"{RAW}/clotho_audio_{{split}}.7z",
        output:
            directory(f"{RAW}/{{split}}"),
        wildcard_constraints:
            split="development|validation|evaluation",
        conda:
            MAAC_ENV,
        log:
            f"{LOGS}/data/extract_{{split}}.log",
        shell:
            "maac extract {input:q} {output:q} --strip {wildcards.split} 2>&1 | tee {log:q}"


rule download_panns:
    output:
        str(paths.pretrained_checkpoint(config["pretrained"]["file"])),
    params:
        url=config["pretrained"]["url"],
        md5=config["pretrained"]["md5"],
    conda:
        MAAC_ENV,
    log:
        f"{LOGS}/data/download_panns.log",
    shell:
        "maac download url {params.url:q} {output:q} --md5 {params.md5} 2>&1 | tee {log:q}"


rule manifest:
    input:
        manifest_inputs,
    output:
        str(paths.manifest_csv(DATASET, "{split}")),
    params:
        captions=lambda wildcards: str(paths.captions_csv(DATASET, wildcards.split)),
        audio=lambda wildcards: str(paths.audio_dir(DATASET, wildcards.split)),
    conda:
        MAAC_ENV,
    log:
        f"{LOGS}/data/manifest_{{split}}.log",
    shell:
        "maac manifest --split {wildcards.split} --captions {params.captions:q}"
        " --audio-dir {params.audio:q} --out {output:q} 2>&1 | tee {log:q}"
