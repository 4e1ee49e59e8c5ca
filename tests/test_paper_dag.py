"""The paper's configuration end to end: every rule of config/config.yaml's DAG, for real.

The DAG of ``config/config.yaml`` runs with a second config file that overrides only sizes
(epochs, the variants of Table 2) and locations (the Zenodo URLs and md5 sums of a local
stand-in, :mod:`tests.clotho_stand_in`): real Clotho clips (cut to :data:`SECONDS`) and their
real captions, a PANNs-format checkpoint with random weights downloaded by the real rule and
loaded into the width-1 trunk, the paper's 512-unit decoder through CE and RL, beam search,
aac-metrics, both tables, the bundles, the figures and ``snakemake --report``.

It fails if a rule of the paper's DAG does not run, if the trunk was not loaded from the served
checkpoint, if any setting other than those sizes and locations differs from the paper's, or if
a second ``snakemake`` has anything left to do. Its output (``pytest -s``) ends with the wall
time of each job.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import time
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import torch
import yaml

from maac.config import workflow_config
from maac.models.resnet38 import UNUSED_CHECKPOINT_KEYS
from tests import clotho_stand_in
from tests.conftest import CLOTHO_REF, REPO
from tests.helpers_http import http_server_fixture  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = 2.0  # each stand-in clip: the middle 2 s of the real clip (width 1: ~0.2 s per clip)
VARIANTS = ["base", "maac"]  # Table 2's two ends (a size: the paper's five cost 3 CE stages more)
PAPER = REPO / "config" / "config.yaml"
# Every key the override may change: sizes and locations, nothing that changes the method.
ALLOWED = {"variants", "dataset.zenodo.url", "pretrained.url", "pretrained.md5",
           "encoder.frozen.epochs", "encoder.finetune.epochs", "captioner.ce.epochs",
           "captioner.rl.epochs", *(f"dataset.zenodo.files.{n}" for n in
                                    yaml.safe_load(PAPER.read_text())["dataset"]["zenodo"]["files"])}
RULE = re.compile(r"^(?:local)?rule (\w+):$", re.M)


def _snakemake(args: list[str], workdir: Path, env: dict[str, str], timeout: int = 900,
               check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--workflow-profile", str(REPO / "workflow" / "profiles" / "default"), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stdout[-6000:]}\n"
                             f"{done.stderr[-6000:]}")
    return done


def _jobs(output: str) -> Counter[str]:
    """Rule -> number of jobs, from the job headers Snakemake prints (run or dry run)."""
    return Counter(RULE.findall(output))


def _leaves(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _job_times(log: str) -> list[tuple[str, float]]:
    """(rule, seconds) of every finished job, from the timestamps of Snakemake's log."""
    stamp = r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]"
    started: dict[str, tuple[str, datetime]] = {}
    times = []
    when, rule = None, "?"
    for line in log.splitlines():
        if m := re.fullmatch(stamp, line.strip()):
            when = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif (m := RULE.match(line.strip())) and when is not None:
            rule = m.group(1)
        elif (m := re.match(r"\s*jobid: (\d+)", line)) and when is not None:
            started.setdefault(m.group(1), (rule, when))
        elif (m := re.match(r"Finished job(?:id:)? (\d+)", line.strip())) and when is not None:
            name, begin = started.get(m.group(1), ("?", when))
            times.append((name, (when - begin).total_seconds()))
    return times


def _breakdown(times: list[tuple[str, float]]) -> str:
    total: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for rule, seconds in times:
        total[rule] += seconds
        count[rule] += 1
    return "\n".join(f"  {rule:<22} {count[rule]:>2} job(s) {seconds:7.0f} s"
                     for rule, seconds in total.most_common())


def test_paper_configuration_runs_every_rule_end_to_end(
    tmp_path: Path, http_server, paper_config: dict, cli_env: dict[str, str]
) -> None:
    begin = time.monotonic()
    stand_in = clotho_stand_in.build(http_server.root, tmp_path / "clips", paper_config["audio"],
                                     SECONDS)
    override = {
        "variants": VARIANTS,
        "dataset": {"zenodo": {"url": http_server.template, "files": stand_in.clotho_md5}},
        "pretrained": {"url": http_server.url("ResNet38_mAP%3D0.434.pth"),
                       "md5": stand_in.md5[clotho_stand_in.PANNS_FILE]},
        "encoder": {"frozen": {"epochs": 1}, "finetune": {"epochs": 1}},
        "captioner": {"ce": {"epochs": 1}, "rl": {"epochs": 1}},
    }
    sizes = tmp_path / "sizes-and-locations.yaml"
    sizes.write_text(yaml.safe_dump(override), encoding="utf-8")
    config = workflow_config({}, [PAPER, sizes], {})  # as the Snakefile merges them
    paper, merged = _leaves(workflow_config({}, [PAPER], {})), _leaves(config)
    assert set(paper) == set(merged)
    changed = {k for k in paper if paper[k] != merged[k]}
    assert changed <= ALLOWED, f"the override changes more than sizes and locations: {changed}"
    assert config["encoder"]["width"] == 1.0 and config["dataset"]["source"] == "zenodo"

    work = tmp_path / "work"
    work.mkdir()
    env = {**cli_env, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'results' / 'mlflow.db'}"}
    env.pop("MAAC_PIPELINE_ID", None)
    configs = ["--configfile", str(PAPER), str(sizes)]

    # The paper's DAG: every rule the paper's config defines, each with its number of jobs.
    empty = tmp_path / "empty"
    empty.mkdir()
    paper_jobs = _jobs(_snakemake(["-n", "--configfile", str(PAPER)], empty, env).stdout)
    defined = set(_snakemake(["--list-rules", "--configfile", str(PAPER)], empty,
                             env).stdout.split())
    assert set(paper_jobs) == defined, "a rule of the paper's config is not in its DAG"
    planned = _jobs(_snakemake(["-n", *configs], work, env).stdout)
    assert set(planned) == defined
    assert planned["captioner_ce"] == len(VARIANTS) and planned["download_clotho"] == 9

    run = _snakemake(["--cores", "2", *configs], work, env, timeout=1500)
    ran = _jobs(run.stdout + run.stderr)
    assert ran == planned, f"jobs run {dict(ran)} != jobs planned {dict(planned)}"
    times = _job_times(run.stdout + run.stderr)

    # Downloads: every file once from the stand-in, through the real rules.
    assert sorted(r.name for r in http_server.requests) == sorted(stand_in.md5)
    _check_outputs(work, stand_in, config, env)

    again = _snakemake(["--cores", "2", *configs], work, env)
    assert "Nothing to be done" in again.stdout + again.stderr
    report = work / "report.zip"
    _snakemake(["--cores", "2", *configs, "--report", str(report)], work, env)
    names = zipfile.ZipFile(report).namelist()
    for item in ("table1.csv", "table2.csv", "attention.png", "training_curves.png"):
        assert any(n.endswith(item) for n in names), item

    print(f"\npaper DAG: {sum(ran.values())} jobs, {time.monotonic() - begin:.0f} s in all; "
          f"per rule (wall time of its jobs):\n{_breakdown(times)}")


def _check_outputs(work: Path, stand_in: clotho_stand_in.StandIn, config: dict,
                   env: dict[str, str]) -> None:
    """What the run made: the trunk loaded from the served checkpoint, keywords of the real
    captions, the paper's models in every stage, a bundle that captions a real clip."""
    raw = work / "data" / "raw" / "clotho"
    for split, clips in stand_in.clips.items():
        assert sorted(p.name for p in (raw / split).glob("*.wav")) == sorted(clips)

    # The trunk of the frozen phase is exactly the served checkpoint's tensors: it was loaded.
    served = torch.load(stand_in.checkpoint, map_location="cpu", weights_only=True)["model"]
    frozen = torch.load(work / "results/clotho/encoder/frozen/best.pt", map_location="cpu",
                        weights_only=True)
    trunk = {k.removeprefix("trunk."): v for k, v in frozen["state_dict"].items()
             if k.startswith("trunk.")}
    assert set(trunk) == set(served) - UNUSED_CHECKPOINT_KEYS
    for key, value in trunk.items():
        assert torch.equal(value, served[key]), f"trunk.{key} is not the served checkpoint's"
    assert frozen["meta"]["encoder"] == {"width": 1.0, "head_dim": 2048, "acoustic_dim": 512}
    summary = json.loads((work / "results/clotho/encoder/frozen/metrics.json").read_text())
    assert summary["pretrained"] is True and summary["epochs"] == 1
    finetuned = torch.load(work / "results/clotho/encoder/finetune/best.pt", map_location="cpu",
                           weights_only=True)["state_dict"]
    assert not torch.equal(finetuned["trunk.conv_block1.conv1.weight"],
                           served["conv_block1.conv1.weight"]), "finetune trains the trunk"

    # Keywords and vocabulary come from the training split's real captions.
    text = work / "data" / "text" / "clotho"
    words = json.loads((text / "vocab.json").read_text())["words"]
    train_caps = [c for caps in stand_in.clips["development"].values() for c in caps]
    caption_words = set(re.findall(r"[a-z]+", " ".join(train_caps).lower()))
    assert caption_words <= set(words) | {"s"}, caption_words - set(words)
    with (text / "keywords.csv").open(encoding="utf-8") as f:
        keywords = [row["word"] for row in csv.DictReader(f)]
    assert 5 <= len(keywords) <= 300 and set(keywords) <= set(words)
    assert all(len(w) >= 3 and w not in config["text"]["keywords"]["stopwords"]
               for w in keywords)
    if stand_in.real:
        assert {"bell", "elevator", "coaster"} <= set(keywords)  # development: see SPREAD

    # The paper's decoder in every captioner stage; CE and RL of maac, CE of base.
    results = work / "results" / "clotho"
    for variant, phases in {"base": ["ce"], "maac": ["ce", "rl"]}.items():
        for phase in phases:
            meta = torch.load(results / variant / "seed1" / phase / "best.pt",
                              map_location="cpu", weights_only=True)["meta"]
            assert meta["variant"] == variant and meta["captioner"]["hidden_dim"] == 512
            assert meta["encoder"]["width"] == 1.0
            scores = json.loads((results / variant / "seed1" /
                                 f"metrics_{phase}_evaluation.json").read_text())
            assert 0 <= scores["bleu_1"] <= 1
            with (results / variant / "seed1" / f"captions_{phase}_evaluation.csv").open() as f:
                assert {r["file_name"] for r in csv.DictReader(f)} == set(
                    stand_in.clips["evaluation"])
    assert "| Base (acoustic attention only), cross-entropy |" in (
        results / "table2.md").read_text()
    assert "| MAAC: RL vs CE | CIDEr-D |" in (results / "table1.md").read_text()
    for name in ("attention", "training_curves", "intervals"):
        assert (results / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"

    # The bundle captions a real clip (its full length), with keywords of the table.
    clip = (sorted((CLOTHO_REF / "audio_samples").glob("*.wav"))[0] if stand_in.real else
            next((raw / "evaluation").glob("*.wav")))
    captioned = subprocess.run(["maac", "caption", str(clip), "--model",
                                str(results / "maac/seed1/model.bundle"), "--json"],
                               env=env, capture_output=True, text=True, timeout=300)
    assert captioned.returncode == 0, captioned.stderr[-2000:]
    (result,) = json.loads(captioned.stdout)
    assert result["caption"].strip() and set(result["caption"].split()) <= set(words)
    assert len(result["keywords"]) == 5 and {k["word"] for k in result["keywords"]} <= set(
        keywords)
