"""Audio layer: PANNs' log-mel front end, one HDF5 file per dataset split."""


rule features:
    input:
        manifest=str(paths.manifest_csv(DATASET, "{split}")),
    output:
        str(paths.features_h5(DATASET, "{split}")),
    params:
        settings=sections_json("audio"),
    threads: 16  # Snakemake lowers it to --cores when fewer
    conda:
        MAAC_ENV
    log:
        log_path("features", "{split}"),
    shell:
        "maac features --manifest {input.manifest:q} --out {output:q} --workers {threads}"
        " --settings {params.settings:q} 2>&1 | tee {log:q}"
