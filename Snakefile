"""MAAC on Clotho v2.1: the pipeline from dataset to the paper's tables.

Run `snakemake --cores all` (the paper, config/config.yaml) or
`snakemake --cores all --configfile config/demo.yaml` (synthetic demo). The config is validated
against workflow/schemas/config.schema.yaml before any rule is built.
"""

from snakemake.utils import min_version

from maac.config import workflow_config

min_version("9.0")


if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


workflow_config(config, workflow.configfiles, workflow.config_settings.config)


# `snakemake --report report.html`: its front page shows Table 1 and Table 2, then the figures
# (menu "2. Figures"), then the DAG (menu "Workflow").
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/encoder.smk"
include: "workflow/rules/captioner.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        all_targets(),
    default_target: True
