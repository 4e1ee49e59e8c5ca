"""Table 1 and Table 2 from evaluations: intervals in every cell, comparisons with verdicts,
the paper beside us only on Clotho, n/a reasons, intervals.json for DVC and MLflow."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from maac import paths
from maac.cli.main import main
from tests.conftest import REPO, load_yaml

NA = "SPICE needs Stanford CoreNLP 3.6.0: run maac metrics-setup online"
MODELS_NA = "FENSE, SBERT-sim, FER and SPIDEr-FL need their models: run maac metrics-setup online"
CLIPS = [f"clip {i:02d}.wav" for i in range(30)]


def _write(run: str, variant: str, seed: int, phase: str, cider: np.ndarray,
           fense: np.ndarray | None = None, fingerprint: str = "f00d") -> None:
    """A metrics JSON and a per-clip table whose CIDEr-D scores are ``cider`` (and FENSE's,
    SBERT-sim's and FER's ``fense``, ``fense + 0.1``, 0 when given; else their models are
    missing)."""
    rows = []
    for i, name in enumerate(CLIPS):
        rows.append({"file_name": name, "bleu_1": 0.5, "bleu_2": 0.3, "bleu_3": 0.2,
                     "bleu_4": 0.1, "meteor": 0.15, "rouge_l": 0.35,
                     "cider_d": float(cider[i]), "bleu_testlen": 10, "bleu_reflen": 10,
                     "bleu_guess_1": 10, "bleu_guess_2": 9, "bleu_guess_3": 8, "bleu_guess_4": 7,
                     "bleu_correct_1": 5, "bleu_correct_2": 3, "bleu_correct_3": 1,
                     "bleu_correct_4": i % 2})  # BLEU-1 0.5 on every clip
    metrics = {"bleu_1": 0.5, "bleu_2": 0.3, "bleu_3": 0.2, "bleu_4": 0.1, "meteor": 0.15,
               "rouge_l": 0.35, "cider_d": float(np.mean(cider)), "spice": None,
               "spider": None, "spider_fl": None, "fense": None, "sbert_sim": None,
               "fer": None, "vocab": 40.0 + seed,
               "unavailable": {"spice": NA, "spider": NA, "spider_fl": NA, "fense": MODELS_NA,
                               "sbert_sim": MODELS_NA, "fer": MODELS_NA},
               "provenance": {"aac_metrics": "0.6.0", "fingerprint": fingerprint}}
    if fense is not None:
        for i, row in enumerate(rows):
            row.update({"fense": float(fense[i]), "sbert_sim": float(fense[i]) + 0.1,
                        "fer": 0.0})
        metrics.update({"fense": float(np.mean(fense)), "sbert_sim": float(np.mean(fense)) + 0.1,
                        "fer": 0.0})
        for key in ("fense", "sbert_sim", "fer"):
            del metrics["unavailable"][key]
    path = paths.metrics_json(run, variant, seed, phase, "evaluation")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    with paths.scores_csv(run, variant, seed, phase, "evaluation").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _setup(tmp_path: Path, monkeypatch, source: str) -> dict:
    monkeypatch.chdir(tmp_path)
    config = load_yaml(REPO / "config" / "demo.yaml")
    config["seeds"], config["variants"] = [1, 2], ["base", "maac"]
    config["dataset"]["source"] = source
    if source == "zenodo":
        config["dataset"]["zenodo"] = load_yaml(REPO / "config" / "config.yaml")["dataset"][
            "zenodo"]
        config["dataset"].pop("synth")
    rng = np.random.default_rng(0)
    clip = rng.random(len(CLIPS))
    for seed, shift in ((1, 0.0), (2, 0.04)):
        _write("demo", "maac", seed, "ce", clip + shift)
        _write("demo", "maac", seed, "rl", clip + shift + 0.3)  # better on every clip
        _write("demo", "base", seed, "ce", clip + shift + 0.01 * rng.standard_normal(30))
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(config))
    return config


def _tables(config_file: str = "demo.yaml") -> list[str]:
    """`maac tables` with every file it reads and writes, as the Snakefile's rule passes them."""
    from maac.dvc_stages import scores_files
    from maac.variants import evaluated_phases

    config = load_yaml(Path(config_file))
    run, test = config["run"], config["dataset"]["splits"]["test"]
    phases = evaluated_phases(config)
    argv = ["tables", "--config", config_file, "--no-tracking",
            "--models", *(f"{v}:{s}:{ph}" for v, s, ph in phases),
            "--metrics", *(str(paths.metrics_json(run, v, s, ph, test)) for v, s, ph in phases),
            "--scores", *(str(paths.scores_csv(run, v, s, ph, test)) for v, s, ph in phases)]
    for name in paths.TABLES:
        for key, path in paths.table_files(run, name).items():
            argv += [f"--{name}-{key.replace('_', '-')}", str(path)]
    return [*argv, "--intervals", str(paths.intervals_json(run)),
            "--dvc-scores", *map(str, scores_files(config))]


def test_tables_on_a_synthetic_dataset(tmp_path: Path, monkeypatch, capsys) -> None:
    _setup(tmp_path, monkeypatch, "synth")
    assert main(_tables()) == 0
    printed = capsys.readouterr().out
    t1 = Path("results/demo/table1.md").read_text()
    row = next(line for line in t1.splitlines() if "cross-entropy" in line)
    cells = [c.strip() for c in row.split("|")[2:14]]
    assert cells[0] == "50.0 [50.0, 50.0]"  # constant per-clip BLEU counts: zero width
    assert cells[4].count("[") == 1
    # n/a cells: one short mark each, every reason stated once under the table
    assert cells[5:11] == ["n/a¹", "n/a¹", "n/a¹", "n/a²", "n/a²", "n/a²"]
    assert cells[11] == "41.5"  # Vocab: mean over the seeds' counts (41, 42), no interval
    assert t1.count(NA) == 1 and t1.count(MODELS_NA) == 1
    assert f"¹ n/a: {NA}" in t1 and f"² n/a: {MODELS_NA}" in t1
    assert "| MAAC: RL vs CE | Vocab |" not in t1  # a count: not compared
    assert "paper" not in t1.split("\n\n")[0]  # the paper's rows are not shown ...
    assert "not comparable" in t1  # ... and one line says why
    assert "| MAAC: RL vs CE | CIDEr-D | +30.0 [+30.0, +30.0] |" in t1
    assert "| better |" in t1.split("MAAC: RL vs CE | CIDEr-D")[1].splitlines()[0]
    assert "Holm-corrected over the table's 5 tests" in t1
    t2 = Path("results/demo/table2.md").read_text()
    assert "| MAAC vs Base | CIDEr-D |" in t2 and "not run" in t2
    assert "no significant difference (p = " in t2
    assert t1 in printed and t2 in printed
    rows = list(csv.DictReader(Path("results/demo/table1.csv").read_text().splitlines()))
    assert {"cider_d", "cider_d_low", "cider_d_high", "seeds", "clips", "fense", "sbert_sim",
            "fer", "spider_fl", "vocab"} <= set(rows[0])
    assert rows[0]["vocab"] == "41.5000" and rows[0]["fense"] == f"n/a ({MODELS_NA})"
    assert rows[0]["seeds"] == "2" and rows[0]["clips"] == "30"
    assert float(rows[0]["cider_d_low"]) < float(rows[0]["cider_d"]) < float(
        rows[0]["cider_d_high"])
    comparisons = list(csv.DictReader(
        Path("results/demo/table1_comparisons.csv").read_text().splitlines()))
    assert [c["verdict"] for c in comparisons if c["metric"] == "cider_d"] == ["better"]
    summary = json.loads(Path("results/demo/intervals.json").read_text())
    assert summary["settings"]["resamples"] == 2000 and summary["settings"]["seeds"] == 2
    assert summary["table1"]["comparisons"]["maac_rl_vs_ce"]["cider_d"]["p_holm"] < 0.01
    ce = summary["table1"]["cells"]["maac_both_shared_semantic_module_cross_entropy"]
    assert ce["vocab"] == {"value": 41.5} and "fense" not in ce
    own = Path("results/demo/table1_comparisons.md").read_text()
    assert own.count(NA) == 1 and "| SPICE | | | | n/a¹ |" in own
    assert not [p for p in os.listdir("results/demo") if p.endswith(".tmp")]
    # the same inputs give byte-identical tables (seeded resamples)
    first = {p: Path(p).read_bytes() for p in Path("results/demo").glob("*.*")}
    assert main(_tables()) == 0
    assert first == {p: Path(p).read_bytes() for p in Path("results/demo").glob("*.*")}


def test_tables_on_clotho_mark_the_paper_against_our_interval(tmp_path: Path,
                                                               monkeypatch) -> None:
    _setup(tmp_path, monkeypatch, "zenodo")
    assert main(_tables()) == 0
    t1 = Path("results/demo/table1.md").read_text()
    assert "CIDEr-D (paper)" in t1 and "not comparable" not in t1
    assert "57.7 (above our CI)" in t1  # paper B1 57.7 vs our constant 50.0
    assert "17.4 (above our CI)" in t1
    t2 = Path("results/demo/table2.md").read_text()
    assert "did not converge" in t2
    summary = json.loads(Path("results/demo/intervals.json").read_text())
    ce = summary["table1"]["cells"]["maac_both_shared_semantic_module_cross_entropy"]
    assert ce["cider_d"]["paper"] == 41.9


def test_dcase2024_columns_get_intervals_and_comparisons_when_computed(
        tmp_path: Path, monkeypatch) -> None:
    """FENSE, SBERT-sim and FER with per-clip scores: intervals and paired tests like CIDEr-D;
    evaluations computed differently (other provenance) are not compared."""
    _setup(tmp_path, monkeypatch, "synth")
    rng = np.random.default_rng(1)
    fense = rng.random(len(CLIPS)) * 0.5
    for seed in (1, 2):
        _write("demo", "maac", seed, "ce", rng.random(30), fense)
        _write("demo", "maac", seed, "rl", rng.random(30), fense + 0.2)
        _write("demo", "base", seed, "ce", rng.random(30), fense, fingerprint="other")
    assert main(_tables()) == 0
    t1 = Path("results/demo/table1.md").read_text()
    row = next(line for line in t1.splitlines() if "(RL)" in line)
    cells = [c.strip() for c in row.split("|")[2:14]]
    mean = 100 * (fense.mean() + 0.2)
    assert cells[8].startswith(f"{mean:.1f} [") and cells[9].startswith(f"{mean + 10:.1f} [")
    assert cells[10] == "0.0 [0.0, 0.0]" and cells[7] == "n/a¹"
    assert MODELS_NA not in t1  # every model-backed metric but SPIDEr-FL was computed
    assert "| MAAC: RL vs CE | FENSE | +20.0 [+20.0, +20.0] |" in t1
    t2 = Path("results/demo/table2.md").read_text()
    assert "| MAAC vs Base | FENSE | | | | n/a" in t2 and "provenance fingerprints differ" in t2
    assert "| MAAC vs Base | CIDEr-D | | | | n/a" in t2  # nothing compared across provenance


def test_tables_refuse_evaluations_on_other_clips(tmp_path: Path, monkeypatch, capsys) -> None:
    _setup(tmp_path, monkeypatch, "synth")
    scores = paths.scores_csv("demo", "base", 1, "ce", "evaluation")
    scores.write_text(scores.read_text().replace("clip 00.wav", "other.wav"))
    assert main(_tables()) != 0
    assert "other clips" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["cider_d"])
def test_forest_plot(tmp_path: Path, monkeypatch, key: str) -> None:
    _setup(tmp_path, monkeypatch, "zenodo")
    assert main(_tables()) == 0
    out = tmp_path / "forest.png"
    assert main(["figure", "intervals", "results/demo/intervals.json", "--metric", key,
                 "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_papers_numbers_are_shown_only_beside_clotho_v21() -> None:
    """Zenodo's download, or a local copy whose CSVs passed Clotho v2.1's md5 check."""
    from maac.evaluation.assemble import is_clotho_v21

    assert is_clotho_v21({"source": "zenodo"})
    assert is_clotho_v21({"source": "local", "local": {"path": "/d", "md5": "zenodo"}})
    assert is_clotho_v21({"source": "local", "local": {"path": "/d"}})  # the default check
    assert not is_clotho_v21({"source": "local", "local": {"path": "/d", "md5": "skip"}})
    assert not is_clotho_v21({"source": "synth"})


def test_tables_refuse_files_that_do_not_match_the_models(tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    """One metrics and one scores file per --models label; a label names VARIANT:SEED:PHASE."""
    _setup(tmp_path, monkeypatch, "synth")
    argv = _tables()
    dropped = argv[:argv.index("--metrics") + 1] + argv[argv.index("--metrics") + 2:]
    assert main(dropped) != 0
    assert "--metrics: 5 files for 6 --models" in capsys.readouterr().err
    bad = [("maac-1-ce" if a == "maac:1:ce" else a) for a in argv]
    assert main(bad) != 0
    assert "'maac-1-ce' is not VARIANT:SEED:PHASE" in capsys.readouterr().err
    assert not paths.intervals_json("demo").exists()  # nothing written
