"""The training stages on a GPU (bf16 autocast): skipped where CUDA is not available."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from maac.training.settings import stage_settings
from tests.test_training import stage_files, tiny_config, use_tiny_data

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_tiny_data(tmp_path, monkeypatch)


def test_four_stages_on_cuda_with_bf16_autocast(tiny_data: Path) -> None:
    from maac.models.captioner import load_captioner
    from maac.training.run import Runtime, run_captioner, run_encoder

    runtime = Runtime("cuda", None, progress=False, tracking=False)
    config = tiny_config(epochs=2)
    for phase in ("frozen", "finetune"):
        summary = run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                              stage_files(config, f"encoder_{phase}"), runtime)
        assert summary["device"] == "cuda"
        assert all(math.isfinite(r["train_loss"]) for r in summary["history"])
    for phase in ("ce", "rl"):
        summary = run_captioner(stage_settings(config, f"captioner_{phase}"), phase, "maac", 1,
                                stage_files(config, f"captioner_{phase}"), runtime)
        assert all(math.isfinite(r["train_loss"]) for r in summary["history"])
    model, _ = load_captioner("results/tiny/maac/seed1/rl/best.pt")  # saved for the CPU
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
