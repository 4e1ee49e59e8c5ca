"""Data layer: download Clotho (or synthesise a dataset, or check a local Clotho-format folder,
read in place), download PANNs, then one manifest per split and the split audit."""


# Downloads run where Snakemake runs (a cluster's login node usually has the internet access
# its compute nodes lack).
localrules:
    download_panns,


import os
import re
import shlex



if SOURCE == "synth":

    rule synthesize:  # one folder in Clotho's layout; its files are named one by one
        output:
            captions=[split_captions(split) for split in SPLITS],
            metadata=list(split_metadata().values()),
            audio=[directory(split_audio(split)) for split in SPLITS],
        params:
            root=lambda wildcards, output: os.path.dirname(output.captions[0]),
            seed=config["dataset"]["synth"]["seed"],
            clips=",".join(f"{s}={n}" for s, n in config["dataset"]["synth"]["clips"].items()),
            seconds=config["dataset"]["synth"]["seconds"],
        conda:
            MAAC_ENV,
        log:
            log_path("data", "synthesize"),
        shell:
            "maac synth {params.root:q} --seed {params.seed} --clips {params.clips}"
            " --seconds {params.seconds} 2>&1 | tee {log:q}"

elif SOURCE == "zenodo":
    ZENODO = config["dataset"]["zenodo"]

    localrules:
        download_clotho,

    rule download_clotho:
        output:
            str(paths.raw_file(DATASET, "{name}")),
        wildcard_constraints:
            name="|".join(re.escape(n) for n in ZENODO["files"]),
        params:
            url=lambda wildcards: ZENODO["url"].format(name=wildcards.name),
            md5=lambda wildcards: ZENODO["files"][wildcards.name],
        conda:
            MAAC_ENV,
        log:
            log_path("data", "download_{name}"),
        shell:
            "maac download url {params.url:q} {output:q} --md5 {params.md5} 2>&1 | tee {log:q}"

    rule extract_clotho_audio:
        input:
            str(paths.audio_archive(DATASET, "{split}")),
        output:
            directory(str(paths.audio_dir(DATASET, "{split}"))),
        wildcard_constraints:
            split="development|validation|evaluation",
        conda:
            MAAC_ENV,
        log:
            log_path("data", "extract_{split}"),
        shell:
            "maac extract {input:q} {output:q} --strip {wildcards.split} 2>&1 | tee {log:q}"


else:  # local: nothing is written into the folder; the manifests point at its files
    LOCAL_CONFIG = config["dataset"]["local"]
    OFFICIAL = LOCAL_CONFIG.get("md5", "zenodo") == "zenodo"  # the folder is Clotho v2.1

    rule local_check:
        input:
            local_check_inputs,
        output:
            str(paths.local_check_json(DATASET)),
        params:
            path=LOCAL_CONFIG["path"],
            layout=LOCAL_CONFIG.get("layout", "auto"),
            splits=",".join(SPLITS),
            official="--official" if OFFICIAL else "",
            md5=" ".join(
                f"--md5 {name}={md5}"
                for name, md5 in config["dataset"].get("zenodo", {}).get("files", {}).items()
                if OFFICIAL and name.endswith(".csv")
            ),
        conda:
            MAAC_ENV,
        log:
            log_path("data", "local_check"),
        shell:
            "maac local-check {params.path:q} --layout {params.layout} --splits {params.splits}"
            " {params.official} {params.md5} --out {output:q} 2>&1 | tee {log:q}"


rule download_panns:
    output:
        str(paths.pretrained_checkpoint(config["pretrained"]["file"])),
    params:
        url=config["pretrained"]["url"],
        md5=config["pretrained"]["md5"],
    conda:
        MAAC_ENV,
    log:
        log_path("data", "download_panns"),
    shell:
        "maac download url {params.url:q} {output:q} --md5 {params.md5} 2>&1 | tee {log:q}"


rule manifest:
    input:
        unpack(manifest_inputs),
    output:
        str(paths.manifest_csv(DATASET, "{split}")),
    conda:
        MAAC_ENV,
    log:
        log_path("data", "manifest_{split}"),
    shell:
        "maac manifest --split {wildcards.split} --captions {input.captions:q}"
        " --audio-dir {input.audio:q} --out {output:q} 2>&1 | tee {log:q}"


rule audit:
    input:
        manifests=[str(paths.manifest_csv(DATASET, split)) for split in SPLITS],
        metadata=list(split_metadata().values()),
    output:
        json=str(paths.audit_json(DATASET)),
        table=report(str(paths.audit_csv(DATASET)), caption="../report/audit.rst",
                     category="4. Split audit"),
    params:
        metadata=" ".join(f"--metadata {shlex.quote(f'{split}={path}')}"
                          for split, path in split_metadata().items()),
    threads: 2
    conda:
        MAAC_ENV,
    log:
        log_path("data", "audit"),
    shell:
        "maac audit --manifests {input.manifests:q} {params.metadata} --out {output.json:q}"
        " --table {output.table:q} --threads {threads} 2>&1 | tee {log:q}"
