"""``maac bench``: every benchmark runs at quick sizes and its equality check can fail."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from maac.bench import beam, report, rewards
from maac.cli.main import main
from maac.config import load_config
from maac.errors import MaacError
from tests.conftest import REPO

PAPER = load_config(REPO / "config" / "config.yaml")


def test_quick_bench_runs_every_benchmark_and_writes_json_and_markdown(
        tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(REPO)  # config/demo.yaml and ../shared, as from the project's root
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    ids = [r["id"] for r in result["results"]]
    assert ids == ["frontend", "beam_demo", "beam_full", "ce_cache", "rewards", "scaling",
                   "memory"]
    assert result["quick"] and result["machine"]["cores"] >= 1
    for r in result["results"]:
        assert r["check"]
        if "ratio" in r:
            assert r["ratio"] > 0 and r["baseline_rate"] > 0 and r["ours_rate"] > 0
    memory = next(r for r in result["results"] if r["id"] == "memory")
    assert 50 < memory["value"] < 3072  # MB: a real process tree's peak
    table = (tmp_path / "bench.md").read_text()
    assert table.count("\n| ") == 1 + len(ids)  # header + one row each
    assert "quick sizes" in capsys.readouterr().out


def test_beam_bench_fails_when_captions_differ(monkeypatch) -> None:
    real = beam.beam_search

    def off_by_one(*args, **kwargs):
        decoded = real(*args, **kwargs)
        decoded.tokens[0, 0] += 1
        return decoded

    monkeypatch.setattr(beam, "beam_search", off_by_one)
    demo = load_config(REPO / "config" / "demo.yaml")
    with pytest.raises(MaacError, match="1 of 2 captions differ"):
        beam.run(demo, "demo", 2, 2.0, 50, 10, repeats=1)


def test_reward_bench_fails_when_values_differ(monkeypatch) -> None:
    real = rewards.CiderD.scores
    monkeypatch.setattr(rewards.CiderD, "scores",
                        lambda self, keys, hyps: real(self, keys, hyps) + 1e-6)
    with pytest.raises(MaacError, match="differ from aac-metrics' cider_d"):
        rewards.run(4, 5, repeats=1)


def test_reward_bench_samples_look_like_samples() -> None:
    refs, _ = rewards.reference_corpus(4, 0)
    keys, hyps = rewards.samples(refs, 5, 1)
    assert len(keys) == len(hyps) == 20 and all(hyps)
    assert sum(h in refs[k] for k, h in zip(keys, hyps, strict=True)) < 20  # some edited


def test_report_marks_missed_targets() -> None:
    fast = {"ratio": 9.0, "target": 8.0}
    assert report.meets_target(fast) and not report.meets_target({**fast, "ratio": 7.9})
    assert not report.meets_target({"meets_target": False, "ratio": 99, "target": 1})


def test_unknown_benchmark_is_refused(capsys) -> None:
    assert main(["bench", "--only", "beams"]) == 1
    assert "unknown benchmark 'beams'" in capsys.readouterr().err


def test_random_encoder_outputs_have_the_models_shapes() -> None:
    model = beam.random_captioner(PAPER | {"encoder": {**PAPER["encoder"], "width": 0.125}},
                                  100, 12, seed=0)
    out = beam.random_encoder_outputs(model, 3, 30.0, seed=1)
    assert out.sequence.shape[::2] == (3, model.encoder.sequence_dim)
    assert out.logits.shape == (3, 12)
    lengths = out.mask.sum(dim=1)
    assert bool((out.sequence.abs().sum(-1) > 0).sum(1).le(lengths).all())
    assert torch.equal(out.mask[:, 0], torch.ones(3, dtype=torch.bool))


def test_gpu_script_runs_quick_on_any_device(tmp_path: Path) -> None:
    from maac.bench import gpu

    result = gpu.run(REPO / "config" / "config.yaml", quick=True, out=tmp_path)
    hours = result["schedule_gpu_hours"]
    assert set(hours) == {"encoder_frozen", "encoder_finetune", "captioner_ce", "captioner_rl",
                          "test_beam_search", "total"}
    assert np.isclose(hours["total"], sum(v for k, v in hours.items() if k != "total"))
    assert result["encoder"]["finetune_step_gflop_per_clip"] > 0
    assert json.loads((tmp_path / "gpu_quick.json").read_text())["quick"] is True


def test_no_layer_imports_the_benchmarks_and_they_import_no_cli() -> None:
    from tests.conftest import imported_modules

    for layer in ("audio", "data", "decoding", "evaluation", "models", "text", "training",
                  "inference", "tracking"):
        for path, names in imported_modules(layer).items():
            assert not [n for n in names if n.startswith("maac.bench")], (layer, path)
    for path, names in imported_modules("bench").items():
        assert not [n for n in names if n.startswith("maac.cli")], path
