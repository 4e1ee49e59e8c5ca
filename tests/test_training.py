"""The training layer: CIDEr-D rewards, augmentation, the loop's guards, resumption after SIGKILL.

Every test runs on a tiny generated dataset (random log-mels, a dozen clips, captions from a
small grammar) and a tiny model; the stages run in-process except where a kill is needed.
"""

from __future__ import annotations

import copy
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn
import yaml

from maac.errors import MaacError
from maac.text.keywords import Keyword, KeywordTable
from maac.text.vocabulary import EOS_ID, PAD_ID, Vocabulary
from maac.training.augment import EncoderAugment
from maac.training.cider import CiderD
from maac.training.loop import LoopConfig, Recipe, TrainingError, train
from maac.training.settings import LoopSettings, stage_settings
from maac.training.state import TrainingStateError
from tests.conftest import REPO

NOUNS = ["bird", "car", "dog", "rain", "bell", "wind"]
VERBS = ["sings", "passes", "barks", "falls", "rings", "blows"]
SPLITS = {"development": 12, "validation": 6}


def _caption(rng: random.Random, nouns: list[str]) -> str:
    parts = [f"a {n} {VERBS[NOUNS.index(n)]}" for n in nouns]
    glue = rng.choice([" and then ", " while ", " followed by "])
    return glue.join(parts) + rng.choice(["", " loudly", " nearby"])


def make_dataset(root: Path, seed: int = 0, splits: dict[str, int] = SPLITS) -> None:
    """data/features/tiny/{split}.h5 and data/text/tiny/* under ``root``, as the rules make them."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    audio = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["audio"]
    clips: dict[str, list[tuple[str, list[str], list[str]]]] = {}
    for split, n in splits.items():
        rows = []
        for i in range(n):
            nouns = rng.sample(NOUNS, rng.choice([1, 2]))
            caps = [_caption(rng, nouns) for _ in range(5)]
            rows.append((f"{split} clip {i:02d}.wav", nouns, caps))
        clips[split] = rows
        feats = [gen.normal(-40, 10, (int(gen.integers(64, 100)), 64)).astype(np.float32)
                 for _ in rows]
        path = root / "data/features/tiny" / f"{split}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as h5:
            h5["logmel"] = np.concatenate(feats)
            h5["offsets"] = np.cumsum([0] + [len(f) for f in feats]).astype(np.int64)
            h5.create_dataset("split", data=[split] * len(rows), dtype=h5py.string_dtype())
            h5.create_dataset("file_name", data=[r[0] for r in rows], dtype=h5py.string_dtype())
            for key, value in audio.items():
                h5.attrs[key] = value
    text = root / "data/text/tiny"
    text.mkdir(parents=True, exist_ok=True)
    vocab = Vocabulary.build([c for _, _, caps in clips["development"] for c in caps])
    vocab.save(text / "vocab.json")
    KeywordTable(tuple(Keyword(w, "noun", 10 - i) for i, w in enumerate(NOUNS))).save(
        text / "keywords.csv")
    for split, rows in clips.items():
        with (text / f"captions_{split}.jsonl").open("w") as f:
            for name, _, caps in rows:
                f.write(json.dumps({"split": split, "file_name": name,
                                    "tokens": [vocab.encode(c) for c in caps]}) + "\n")
        labels = np.array([[w in nouns for w in NOUNS] for _, nouns, _ in rows], dtype=np.uint8)
        np.savez(text / f"labels_{split}.npz", file_names=np.array([r[0] for r in rows]),
                 labels=labels)


def tiny_config(epochs: int = 2) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["run"] = "tiny"
    config["dataset"]["name"] = "tiny"
    config["encoder"].update(width=0.0625, head_dim=16, acoustic_dim=16)
    config["encoder"]["specaugment"].update(time_width=8, freq_width=4)
    for phase in ("frozen", "finetune"):
        config["encoder"][phase] = {"epochs": epochs, "lr": 1e-3}
    config["captioner"].update(embed_dim=16, hidden_dim=16, attention_dim=16, top_keywords=2)
    config["captioner"]["ce"].update(epochs=epochs, lr=3e-3)
    config["captioner"]["rl"].update(epochs=epochs, lr=1e-4, samples_per_clip=2)
    config["training"]["batch_size"] = 4
    config["decoding"]["max_length"] = 12
    return config


def use_tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny dataset in ``tmp_path``, made the working directory (data/..., results/...)."""
    make_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_tiny_data(tmp_path, monkeypatch)


def _runtime() -> Any:
    from maac.training.run import Runtime

    return Runtime("cpu", None, progress=False, tracking=False)


def stage_files(config: dict[str, Any], stage: str, variant: str = "maac", seed: int = 1,
                out: Path | None = None, init: Path | None = None) -> Any:
    """The files the rule of ``stage`` names (``maac.paths``): inputs, outputs in ``out``
    (default the stage's folder), ``init`` by default the previous stage's checkpoint."""
    from maac import paths
    from maac.text.build import captions_jsonl, labels_npz
    from maac.training.loop import StageOutputs
    from maac.training.run import StageFiles

    dataset, run = config["dataset"]["name"], config["run"]
    train_split, val_split = (config["dataset"]["splits"][s] for s in ("train", "validation"))
    text = paths.text_dir(dataset)
    if stage.startswith("encoder_"):
        phase = stage.removeprefix("encoder_")
        folder = paths.encoder_dir(run, phase)
        text_file = labels_npz
        init = init or (paths.encoder_dir(run, "frozen") / "best.pt" if phase == "finetune"
                        else None)
    else:
        sub = stage.removeprefix("captioner_")
        folder = paths.captioner_dir(run, variant, seed, sub)
        text_file = captions_jsonl
        start = config["captioner"]["rl"]["start_from"]
        init = init or (paths.encoder_dir(run, "finetune") / "best.pt" if sub == "ce" else
                        paths.captioner_dir(run, variant, seed, "ce") / f"{start}.pt")
    out = Path(out or folder)
    return StageFiles(paths.features_h5(dataset, train_split),
                      paths.features_h5(dataset, val_split), text_file(text, train_split),
                      text_file(text, val_split), text / "keywords.csv", text / "vocab.json",
                      StageOutputs(out / "best.pt", out / "last.pt", out / "metrics.json",
                                   out / "state.pt"), init)


def stage_args(files: Any, text: str) -> list[str]:
    """``files`` (:func:`stage_files`) as the ``maac train`` options of the rules."""
    out = files.outputs
    named = {"features-train": files.features_train,
             "features-validation": files.features_validation, f"{text}-train": files.text_train,
             f"{text}-validation": files.text_validation, "keywords": files.keywords,
             "vocab": files.vocab, "best": out.best, "last": out.last, "metrics": out.metrics,
             "state": out.state, **({"init": files.init} if files.init else {})}
    return [arg for key, path in named.items() for arg in (f"--{key}", str(path))]


def outputs_in(folder: Path) -> Any:
    """A stage's outputs in one folder, named as the rules name them."""
    from maac.training.loop import StageOutputs

    return StageOutputs(folder / "best.pt", folder / "last.pt", folder / "metrics.json",
                        folder / "state.pt")


# --- CIDEr-D ---------------------------------------------------------------------------------

def _random_corpus(seed: int, clips: int = 8) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    words = ["a", "the", "dog", "bird", "car", "sings", "barks", "loudly", "passes", "by",
             "and", "then", "rain", "falls"]
    sent = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))  # noqa: E731
    return [sent() for _ in range(clips)], [[sent() for _ in range(5)] for _ in range(clips)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cider_d_equals_aac_metrics(seed: int) -> None:
    from aac_metrics.functional import cider_d

    cands, refs = _random_corpus(seed)
    cands[0] = refs[0][0]  # one exact match
    cands[1] = "dog"  # no bigram at all
    corpus, sents = cider_d(cands, refs)
    keys = [str(i) for i in range(len(cands))]
    ours = CiderD({k: [r.split() for r in rs] for k, rs in zip(keys, refs, strict=True)})
    scores = ours.scores(keys, [c.split() for c in cands])
    np.testing.assert_allclose(scores, sents["cider_d"].numpy(), rtol=0, atol=1e-6)
    assert abs(ours.corpus_score(dict(zip(keys, [c.split() for c in cands], strict=True)))
               - float(corpus["cider_d"])) < 1e-6


def test_scst_reward_equals_aac_metrics_on_the_training_corpus(tiny_data: Path) -> None:
    """Rewards (DF from the training captions) = aac-metrics' cider_d over the training set."""
    from aac_metrics.functional import cider_d

    from maac.training.batches import load_split
    from maac.training.captioner_stage import reward_scorer, words_of

    vocab = Vocabulary.load("data/text/tiny/vocab.json")
    train_split = load_split("data/features/tiny/development.h5", "development",
                             captions="data/text/tiny/captions_development.jsonl")
    scorer = reward_scorer(train_split, vocab)
    # hypotheses as a sampler returns them: ids with EOS and PAD after; scored as words
    rng = np.random.default_rng(0)
    tokens = torch.full((len(train_split), 10), PAD_ID)
    lengths = torch.zeros(len(train_split), dtype=torch.long)
    for i in range(len(train_split)):
        n = int(rng.integers(1, 8))
        tokens[i, :n] = torch.as_tensor(rng.integers(4, len(vocab), n))
        tokens[i, n] = EOS_ID
        lengths[i] = n + 1
    hyps = words_of(tokens, lengths, vocab)
    assert all("<eos>" not in h and "<pad>" not in h for h in hyps)
    ours = scorer.scores(train_split.file_names, hyps)
    refs = train_split.references(vocab)
    _, sents = cider_d([" ".join(h) for h in hyps],
                       [[" ".join(r) for r in refs[k]] for k in train_split.file_names])
    np.testing.assert_allclose(ours, sents["cider_d"].numpy(), rtol=0, atol=1e-6)


def test_cider_d_document_frequencies_are_a_parameter() -> None:
    cands, refs = _random_corpus(3)
    keys = [str(i) for i in range(len(cands))]
    split_refs = {k: [r.split() for r in rs] for k, rs in zip(keys, refs, strict=True)}
    own = CiderD(split_refs)
    same = CiderD(split_refs, df_corpus=split_refs.values())
    other = CiderD(split_refs, df_corpus=[[["a", "the", "dog"]]] * 3)
    hyp = cands[2].split()
    assert own.score("2", hyp) == same.score("2", hyp)
    assert own.score("2", hyp) != other.score("2", hyp)


def test_scst_loss_ignores_tokens_after_eos() -> None:
    from maac.training.captioner_stage import scst_loss

    logprobs = torch.full((2, 5), -1.0, requires_grad=True)
    loss = scst_loss(torch.tensor([1.0, -2.0]), logprobs, torch.tensor([2, 4]))
    loss.backward()
    assert torch.all(logprobs.grad[0, 2:] == 0) and torch.all(logprobs.grad[1, 4:] == 0)
    assert torch.all(logprobs.grad[0, :2] != 0) and torch.all(logprobs.grad[1, :4] != 0)
    assert float(loss.detach()) == pytest.approx(-(1.0 * -1 * 2 + -2.0 * -1 * 4) / 6)


# --- augmentation ------------------------------------------------------------------------------

def _augment(mixup: float = 1.0, widths: tuple[int, int] = (0, 0)) -> EncoderAugment:
    cfg = tiny_config()["encoder"]
    cfg = copy.deepcopy(cfg)
    cfg["mixup_alpha"] = mixup
    cfg["specaugment"].update(time_width=widths[0], freq_width=widths[1])
    return EncoderAugment(cfg)


def test_mixup_uses_one_lambda_for_features_and_labels() -> None:
    torch.manual_seed(0)
    aug = _augment()
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    x = labels[:, 0].view(4, 1, 1, 1).expand(4, 1, 6, 8).clone()  # feature = first label
    aug.new_batch(4, torch.device("cpu"))
    mixed = aug("bn0", x)
    targets = aug.mix_targets(labels)
    assert aug.lam is not None and not torch.all((aug.lam == 0) | (aug.lam == 1))
    torch.testing.assert_close(mixed[:, 0, 0, 0], targets[:, 0])
    torch.testing.assert_close(mixed.amax(dim=(1, 2, 3)), mixed.amin(dim=(1, 2, 3)))


def test_mixup_on_the_input_equals_mixup_after_bn0_in_eval_mode() -> None:
    from maac.models.resnet38 import ResNet38Trunk

    trunk = ResNet38Trunk(0.0625).eval()
    with torch.no_grad():
        trunk.bn0.running_mean.uniform_(-50, -30)
        trunk.bn0.running_var.uniform_(20, 80)
        trunk.bn0.weight.uniform_(0.5, 2)
        trunk.bn0.bias.uniform_(-1, 1)
    x = torch.randn(3, 40, 64) * 10 - 40
    lengths = torch.tensor([40, 40, 40])
    aug = _augment()
    torch.manual_seed(1)
    aug.new_batch(3, torch.device("cpu"))
    via_input = trunk.bn0(aug.apply_to_input(x, lengths, trunk)[:, None].transpose(1, 3))
    after = aug.mix(trunk.bn0(x[:, None].transpose(1, 3)))
    torch.testing.assert_close(via_input, after, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("scheme", ["zero", "mean", "exchange"])
def test_specaugment_pp_masks_stripes_of_one_hidden_point(scheme: str) -> None:
    aug = _augment(mixup=0.0, widths=(8, 4))
    aug.pp_points, aug.pp_scheme = ["layer1"], scheme
    torch.manual_seed(2)
    aug.new_batch(4, torch.device("cpu"))
    x = torch.rand(4, 3, 20, 16) + 1
    assert torch.equal(aug("layer2", x), x)  # not the drawn point
    y = aug("layer1", x)
    changed = (y != x).any(dim=1)  # (B, T, F): the same stripes in every channel
    assert changed.any()
    assert torch.equal((y != x).all(dim=1), changed) or scheme != "zero"


# --- the loop's guards -------------------------------------------------------------------------

class ToyRecipe(Recipe):
    """A linear regression: enough to exercise the loop."""

    def __init__(self, nan_at: tuple[int, int] | None = None) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(3, 1)
        self.x, self.y = torch.randn(12, 3), torch.randn(12, 1)
        self.nan_at = nan_at

    def trainable(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def batches(self, epoch: int) -> list[list[int]]:
        return [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]

    def step(self, batch: list[int], epoch: int) -> tuple[torch.Tensor, int]:
        self.calls = getattr(self, "calls", 0) + 1
        loss = ((self.model(self.x[batch]) - self.y[batch]) ** 2).mean()
        if self.nan_at == (epoch + 1, (self.calls - 1) % 3 + 1):
            loss = loss * float("nan")
        return loss, len(batch)

    def validate(self) -> dict[str, float]:
        with torch.no_grad():
            return {"val_neg_mse": -float(((self.model(self.x) - self.y) ** 2).mean())}

    def checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return self.model.state_dict(), {"format": "toy"}


def _loop(out: Path, identity: dict[str, str], epochs: int = 3) -> LoopConfig:
    loop = LoopSettings(epochs=epochs, lr=0.01, batch_size=4, optimizer="adam", lr_decay=0.98,
                        grad_clip=1.0)
    return LoopConfig("toy", loop, "val_neg_mse", outputs_in(out), torch.device("cpu"),
                      identity, progress=False)


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_good_state(tmp_path: Path):
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 2, batch 2/3.*after epoch 1"):
        train(ToyRecipe(nan_at=(2, 2)), _loop(tmp_path, {"config_hash": "a"}))
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["training"]["epoch"] == 1 and not (tmp_path / "last.pt").exists()
    summary = train(ToyRecipe(), _loop(tmp_path, {"config_hash": "a"}))  # resumes after epoch 1
    assert [r["epoch"] for r in summary["history"]] == [1, 2, 3]
    assert (tmp_path / "last.pt").is_file() and not (tmp_path / "state.pt").exists()


def test_a_state_from_another_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingError):
        train(ToyRecipe(nan_at=(2, 1)), _loop(tmp_path, {"config_hash": "aaaa", "vocab": "v"}))
    with pytest.raises(TrainingStateError, match=r"state\.pt: this training state was made with "
                       r"another config, vocabulary or input model \(config_hash aaaa != bbbb\)"):
        train(ToyRecipe(), _loop(tmp_path, {"config_hash": "bbbb", "vocab": "v"}))


def test_lr_decays_by_the_configured_factor_per_epoch(tmp_path: Path) -> None:
    summary = train(ToyRecipe(), _loop(tmp_path, {}))
    lrs = [r["lr"] for r in summary["history"]]
    assert lrs == pytest.approx([0.01, 0.0098, 0.0098 * 0.98])


# --- the stages --------------------------------------------------------------------------------

def test_three_stages_in_process(tiny_data: Path) -> None:
    """frozen -> finetune -> CE -> RL on the tiny data; outputs where the rules expect them."""
    from maac.models.captioner import load_captioner
    from maac.training.run import run_captioner, run_encoder

    config = tiny_config(epochs=1)
    for phase in ("frozen", "finetune"):
        summary = run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                              stage_files(config, f"encoder_{phase}"), _runtime())
        assert 0 <= summary["best"] <= 1
    for phase in ("ce", "rl"):
        summary = run_captioner(stage_settings(config, f"captioner_{phase}"), phase, "maac", 1,
                                stage_files(config, f"captioner_{phase}"), _runtime())
        assert summary["best"] >= 0 and "not computed" in summary["spider"]
    out = Path("results/tiny/maac/seed1")
    for phase in ("ce", "rl"):
        assert {p.name for p in (out / phase).iterdir()} == {"best.pt", "last.pt",
                                                             "metrics.json"}
        model, meta = load_captioner(out / phase / "best.pt")
        assert meta["stage"] == f"captioner_{phase}" and meta["variant"] == "maac"
    assert {p.name for p in Path("results/tiny/encoder/finetune").iterdir()} == {
        "best.pt", "last.pt", "metrics.json"}


@pytest.mark.parametrize("dropout", [True, False])
def test_rl_samples_with_the_decoders_dropout_only_if_configured(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch, dropout: bool
) -> None:
    import maac.training.captioner_stage as stage
    from maac.training.run import run_captioner, run_encoder

    config = tiny_config(epochs=1)
    config["encoder"]["finetune"]["epochs"] = 0
    for phase in ("frozen", "finetune"):
        run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                    stage_files(config, f"encoder_{phase}"), _runtime())
    run_captioner(stage_settings(config, "captioner_ce"), "ce", "maac", 1,
                  stage_files(config, "captioner_ce"), _runtime())
    config["captioner"]["rl"]["sample_dropout"] = dropout
    modes: list[tuple[set[bool], bool]] = []
    real_sample = stage.sample

    def recording_sample(model: Any, *args: Any, **kwargs: Any) -> Any:
        modes.append(({m.training for m in model.decoder.modules()}, model.encoder.training))
        return real_sample(model, *args, **kwargs)

    monkeypatch.setattr(stage, "sample", recording_sample)
    run_captioner(stage_settings(config, "captioner_rl"), "rl", "maac", 1,
                  stage_files(config, "captioner_rl"), _runtime())
    assert len(modes) == 3  # 12 clips, batch 4, one epoch
    assert all(decoder == {dropout} and not encoder for decoder, encoder in modes)


def test_ce_refuses_an_encoder_trained_with_another_keyword_table(tiny_data: Path) -> None:
    from maac.training.run import run_captioner, run_encoder

    config = tiny_config(epochs=1)
    config["encoder"]["finetune"]["epochs"] = 0
    for phase in ("frozen", "finetune"):
        run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                    stage_files(config, f"encoder_{phase}"), _runtime())
    table = KeywordTable.load("data/text/tiny/keywords.csv")
    KeywordTable(tuple(reversed(table.keywords))).save("data/text/tiny/keywords.csv")
    with pytest.raises(MaacError, match="trained with another keyword table"):
        run_captioner(stage_settings(config, "captioner_ce"), "ce", "maac", 1,
                      stage_files(config, "captioner_ce"),
                      _runtime())


def test_ce_cache_gives_the_same_training_as_per_batch_encoding(tiny_data: Path) -> None:
    from maac.training.run import run_captioner, run_encoder

    config = tiny_config(epochs=1)
    config["encoder"]["finetune"]["epochs"] = 0
    for phase in ("frozen", "finetune"):
        run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                    stage_files(config, f"encoder_{phase}"), _runtime())
    losses = []
    for cache in (True, False):
        config["captioner"]["ce"]["cache_encoder"] = cache
        summary = run_captioner(stage_settings(config, "captioner_ce"), "ce", "base", 1,
                                stage_files(config, "captioner_ce", "base",
                                            out=Path(f"ce_cache_{cache}")), _runtime())
        losses.append(summary["history"][-1]["train_loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)


def test_label_smoothing_puts_no_mass_on_pad_or_bos() -> None:
    """The smoothed target is (1 - eps) one-hot + eps / (V - 2) on every token but <pad> and
    <bos>, which are never targets; <pad> positions are ignored."""
    import torch.nn.functional as F

    from maac.text.vocabulary import BOS_ID
    from maac.training.captioner_stage import smoothed_cross_entropy

    vocab, eps = 12, 0.1
    logits = torch.randn(5, vocab, generator=torch.Generator().manual_seed(0),
                         requires_grad=True)
    targets = torch.tensor([4, EOS_ID, 7, PAD_ID, 3])
    smoothed_cross_entropy(logits, targets, eps).backward()
    assert logits.grad is not None
    valid = targets != PAD_ID
    assert bool((logits.grad[~valid] == 0).all())
    # d loss / d logits = (softmax - target) / (valid positions): recover each target
    target = torch.softmax(logits.detach(), dim=-1)[valid] - logits.grad[valid] * int(valid.sum())
    expected = torch.full((4, vocab), eps / (vocab - 2))
    expected[:, [PAD_ID, BOS_ID]] = 0.0
    expected[torch.arange(4), targets[valid]] += 1 - eps
    torch.testing.assert_close(target, expected, rtol=0, atol=1e-6)
    plain = F.cross_entropy(logits, targets, ignore_index=PAD_ID)
    torch.testing.assert_close(smoothed_cross_entropy(logits, targets, 0.0), plain)


def test_captioner_specaugment_encodes_every_batch_anew_with_the_frozen_encoder(
        tiny_data: Path) -> None:
    """With SpecAugment the training batches bypass the cache: new stripes at every call, the
    encoder in eval mode without gradient; with no stripes it is the un-augmented encoder."""
    from maac.models.captioner import build_keyword_encoder
    from maac.training.augment import InputSpecAugment
    from maac.training.batches import FrozenEncoderOutputs, load_split

    config = tiny_config()
    cpu = torch.device("cpu")
    split = load_split(Path("data/features/tiny/development.h5"), "development",
                       audio_cfg=config["audio"])
    encoder = build_keyword_encoder(config["encoder"], 6)
    seen: list[tuple[bool, bool]] = []
    forward = encoder.forward

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append((encoder.training, torch.is_grad_enabled()))
        return forward(*args, **kwargs)

    encoder.forward = recording  # type: ignore[method-assign]
    idx = [0, 1, 2, 3]
    plain = FrozenEncoderOutputs(encoder, split, 4, cpu, cache=True)
    assert plain.cached is not None
    encoder.train()  # whatever mode the caller left it in
    augmented = FrozenEncoderOutputs(encoder, split, 4, cpu, cache=True,
                                     augment=InputSpecAugment(config["encoder"]["specaugment"]))
    assert augmented.cached is None
    seen.clear()
    a, b, reference = augmented.batch(idx), augmented.batch(idx), plain.batch(idx)
    assert seen == [(False, False), (False, False)]  # eval mode, no gradient, once per batch
    assert not torch.allclose(a.logits, reference.logits)
    assert not torch.allclose(a.sequence, b.sequence)  # new stripes at every call
    no_stripes = {"time_masks": 0, "time_width": 8, "freq_masks": 0, "freq_width": 4}
    same = FrozenEncoderOutputs(encoder, split, 4, cpu, cache=False,
                                augment=InputSpecAugment(no_stripes)).batch(idx)
    direct = FrozenEncoderOutputs(encoder, split, 4, cpu, cache=False).batch(idx)
    torch.testing.assert_close(same.logits, direct.logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(same.sequence, direct.sequence, rtol=0, atol=1e-6)


def test_ce_and_rl_specaugment_only_if_configured_and_repeatable(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """captioner.{ce,rl}.specaugment: every training batch (never a validation batch) is
    augmented; the same config and seed give bitwise the same weights."""
    import maac.training.augment as augment
    from maac.training.run import run_captioner, run_encoder

    config = tiny_config(epochs=1)
    config["encoder"]["finetune"]["epochs"] = 0
    for phase in ("frozen", "finetune"):
        run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                    stage_files(config, f"encoder_{phase}"), _runtime())
    assert "specaugment" not in stage_settings(config, "captioner_ce")["encoder"]
    calls: list[int] = []
    real = augment.InputSpecAugment.__call__

    def counting(self: Any, features: torch.Tensor, *args: Any) -> torch.Tensor:
        calls.append(features.shape[0])
        return real(self, features, *args)

    monkeypatch.setattr(augment.InputSpecAugment, "__call__", counting)
    run_captioner(stage_settings(config, "captioner_ce"), "ce", "base", 1,
                  stage_files(config, "captioner_ce", "base", out=Path("ce_plain")), _runtime())
    assert calls == []
    for phase in ("ce", "rl"):
        config["captioner"][phase]["specaugment"] = True
    settings = stage_settings(config, "captioner_ce")
    assert settings["encoder"]["specaugment"] == config["encoder"]["specaugment"]
    weights = []
    for out in ("ce_a", "ce_b"):
        run_captioner(settings, "ce", "base", 1,
                      stage_files(config, "captioner_ce", "base", out=Path(out)), _runtime())
        weights.append(torch.load(Path(out) / "last.pt", weights_only=True)["state_dict"])
    assert calls == [4] * 15 * 2  # 60 (clip, caption) pairs in batches of 4, per run
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
    calls.clear()
    run_captioner(stage_settings(config, "captioner_rl"), "rl", "base", 1,
                  stage_files(config, "captioner_rl", "base", out=Path("rl"),
                              init=Path("ce_a/last.pt")), _runtime())
    assert calls == [4] * 3  # 12 clips in batches of 4


def test_batches_pad_to_a_multiple_of_64_frames_and_the_padding_changes_nothing(
        tiny_data: Path) -> None:
    from maac.models.captioner import build_keyword_encoder
    from maac.training.batches import PAD_FRAMES, load_split

    audio = tiny_config()["audio"]
    split = load_split(Path("data/features/tiny/development.h5"), "development", audio_cfg=audio)
    idx = [0, 1, 2, 3]
    features, lengths = split.features(idx, torch.device("cpu"))
    assert PAD_FRAMES == 64 and features.shape[1] % PAD_FRAMES == 0
    assert int(lengths.max()) <= features.shape[1] < int(lengths.max()) + PAD_FRAMES
    encoder = build_keyword_encoder(tiny_config()["encoder"], 6).eval()
    with torch.no_grad():
        batch = encoder(features, lengths)
        for j, i in enumerate(idx):
            clip = torch.from_numpy(np.asarray(split.store[split.rows[i]]))[None]
            assert torch.equal(features[j, : len(clip[0])], clip[0])
            assert not features[j, len(clip[0]):].any()
            alone = encoder(clip, torch.tensor([clip.shape[1]]))
            valid = int(batch.mask[j].sum())
            assert valid == alone.sequence.shape[1]
            torch.testing.assert_close(batch.logits[j], alone.logits[0], rtol=0, atol=1e-5)
            torch.testing.assert_close(batch.sequence[j, :valid], alone.sequence[0], rtol=0,
                                       atol=1e-5)


def _train_cmd(config: dict[str, Any], out: Path, *extra: str) -> list[str]:
    files = stage_files(config, "encoder_finetune", out=out)
    return [sys.executable, "-m", "maac.cli.train_commands", "encoder", "--phase", "finetune",
            "--settings", json.dumps(stage_settings(config, "encoder_finetune")),
            *stage_args(files, "labels"), "--threads", "1", "--device", "cpu", "--no-progress",
            "--no-tracking", *extra]


def test_sigkill_mid_epoch_then_rerun_gives_bitwise_the_uninterrupted_weights(
    tiny_data: Path, cli_env: dict[str, str]
) -> None:
    from maac.training.run import run_encoder

    config = tiny_config(epochs=1)
    config["encoder"]["finetune"]["epochs"] = 3
    run_encoder(stage_settings(config, "encoder_frozen"), "frozen",
                stage_files(config, "encoder_frozen"), _runtime())

    whole, killed = tiny_data / "whole", tiny_data / "killed"
    first = subprocess.run(_train_cmd(config, whole), env=cli_env, capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr

    proc = subprocess.Popen(_train_cmd(config, killed), env=cli_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "state.pt").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the stage ended before it could be killed"
    epoch = torch.load(killed / "state.pt", weights_only=True)["training"]["epoch"]
    assert epoch < 3 and not (killed / "last.pt").exists()

    rerun = subprocess.run(_train_cmd(config, killed), env=cli_env, capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming after epoch {epoch}" in rerun.stdout
    for name in ("best.pt", "last.pt"):  # no timings inside: the same bytes, resumed or not
        assert (whole / name).read_bytes() == (killed / name).read_bytes(), name
    a = torch.load(whole / "last.pt", weights_only=True)
    b = torch.load(killed / "last.pt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    timing = {"samples_per_s", "train_seconds"}
    histories = [[{k: v for k, v in r.items() if k not in timing} for r in
                  json.loads((d / "metrics.json").read_text())["history"]] for d in (whole, killed)]
    assert histories[0] == histories[1]


# --- captioner checkpoints: the decoder's weights and a reference to the frozen encoder -------

def _stage(config: dict[str, Any], phase: str, root: Path) -> None:
    """Stage ``captioner_{phase}`` of maac seed 1 into ``root/phase`` (RL from ``root/ce``)."""
    from maac.training.run import run_captioner

    init = None if phase == "ce" else root / "ce" / "last.pt"
    run_captioner(stage_settings(config, f"captioner_{phase}"), phase, "maac", 1,
                  stage_files(config, f"captioner_{phase}", out=root / phase, init=init),
                  _runtime())


def _encoder(config: dict[str, Any]) -> None:
    from maac.training.run import run_encoder

    for phase in ("frozen", "finetune"):
        run_encoder(stage_settings(config, f"encoder_{phase}"), phase,
                    stage_files(config, f"encoder_{phase}"), _runtime())


def test_captioner_checkpoints_hold_the_decoder_and_name_their_encoder(tiny_data: Path) -> None:
    """best.pt / last.pt of CE and RL: decoder weights only, the encoder named by path and
    sha256 and read from it on loading; the bundle holds both and needs no other file."""
    from maac.inference.bundle import read_bundle, write_bundle
    from maac.models.captioner import load_captioner
    from maac.models.checkpoint import read_checkpoint
    from maac.training.state import file_sha256

    config = tiny_config(epochs=1)
    _encoder(config)
    for phase in ("ce", "rl"):
        _stage(config, phase, Path("cap"))
    encoder_path = Path("results/tiny/encoder/finetune/best.pt")
    encoder, _ = read_checkpoint(encoder_path)
    for phase in ("ce", "rl"):
        for name in ("best.pt", "last.pt"):
            state, meta = read_checkpoint(Path("cap") / phase / name)
            assert state and all(k.startswith("decoder.") for k in state), name
            assert meta["encoder_checkpoint"] == {"path": str(encoder_path),
                                                  "sha256": file_sha256(encoder_path)}
        model, _ = load_captioner(Path("cap") / phase / "best.pt")
        whole = model.state_dict()
        assert set(whole) == {f"encoder.{k}" for k in encoder} | set(state)
        assert all(torch.equal(whole[f"encoder.{k}"], v) for k, v in encoder.items())
    write_bundle("cap/rl/best.pt", "data/text/tiny/vocab.json", "data/text/tiny/keywords.csv",
                 config["audio"], config["decoding"], "model.bundle")

    # The rules pass the encoder file itself: a copy elsewhere serves, another file does not.
    moved = Path("moved_encoder.pt")
    moved.write_bytes(encoder_path.read_bytes())
    model, _ = load_captioner(Path("cap") / "ce" / "best.pt", encoder=moved)
    assert all(torch.equal(model.state_dict()[f"encoder.{k}"], v) for k, v in encoder.items())
    with pytest.raises(MaacError, match=r"encoder checkpoint .*frozen/best\.pt with sha256"):
        load_captioner(Path("cap") / "ce" / "best.pt",
                       encoder=Path("results/tiny/encoder/frozen/best.pt"))

    # A retrained (changed) or missing encoder is refused by name, with what to do.
    encoder_path.write_bytes(encoder_path.read_bytes() + b"\0")
    with pytest.raises(MaacError, match=r"cap/rl/best\.pt: holds the decoder only, built on the "
                       r"encoder checkpoint results/tiny/encoder/finetune/best\.pt with sha256 "
                       r"\w{12}, but that file now has sha256 \w{12} .*retrain the captioner"):
        load_captioner(Path("cap") / "rl" / "best.pt")
    encoder_path.unlink()
    with pytest.raises(MaacError, match=r"encoder checkpoint .*finetune/best\.pt is missing"):
        load_captioner(Path("cap") / "ce" / "best.pt")
    bundle = read_bundle("model.bundle")  # self-contained: no encoder file needed
    assert all(torch.equal(bundle.model.state_dict()[f"encoder.{k}"], v)
               for k, v in encoder.items())


def test_an_interrupted_captioner_stage_resumes_to_the_same_bytes(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CE and RL stopped after their first epoch (state.pt: the decoder only) and rerun end
    with the bytes of an uninterrupted run."""
    from maac.training import loop

    config = tiny_config(epochs=1)
    _encoder(config)
    for phase in ("ce", "rl"):
        config["captioner"][phase]["epochs"] = 3
    for phase in ("ce", "rl"):
        _stage(config, phase, Path("whole"))

    class Killed(Exception):
        pass

    def stop_after_first(self: Any, record: dict[str, Any], epoch: int) -> None:
        if epoch == 1:
            raise Killed

    for phase in ("ce", "rl"):
        with monkeypatch.context() as patch:
            patch.setattr(loop.NoTracker, "log_epoch", stop_after_first)
            with pytest.raises(Killed):
                _stage(config, phase, Path("killed"))
        state = torch.load(Path("killed") / phase / "state.pt", weights_only=True)
        assert state["training"]["epoch"] == 1 and not (Path("killed") / phase / "last.pt").exists()
        assert all(k.startswith("decoder.") for k in state["state_dict"])
        _stage(config, phase, Path("killed"))
        for name in ("best.pt", "last.pt"):
            assert (Path("whole") / phase / name).read_bytes() == (
                Path("killed") / phase / name).read_bytes(), f"{phase}/{name}"


@pytest.mark.parametrize(("settings", "message"), [
    ("{not json", "--settings: not JSON"),
    ('{"run": "tiny"}', "--settings: missing section(s) dataset, audio, training, encoder, seed"),
    ("[1]", "--settings: missing section(s) run, dataset"),
])
def test_train_settings_are_read_by_the_one_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: str, message: str
) -> None:
    """``maac train --settings`` goes through maac.config.parse_settings: one line naming the
    sections missing, before any file is read."""
    from maac.cli.train_commands import main

    files = stage_files(tiny_config(), "encoder_frozen", out=tmp_path)
    assert main(["encoder", "--phase", "frozen", "--settings", settings,
                 *stage_args(files, "labels"), "--no-tracking"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"maac: error: {message}") and "\n" not in err


def test_loop_settings_are_typed_once_from_the_validated_sections(demo_config: dict) -> None:
    """One typed view of the loop and phase sections: YAML's 2 becomes 2.0 where the field is a
    float, a missing key is named, and every key of captioner.ce/rl is a field."""
    from maac.training.settings import CEPhase, RLPhase, typed

    settings = stage_settings(demo_config, "captioner_ce")
    settings["training"] = {**settings["training"], "grad_clip": 2}
    loop = LoopSettings.of(settings, settings["captioner"]["ce"])
    assert loop.grad_clip == 2.0 and isinstance(loop.grad_clip, float)
    assert loop.epochs == demo_config["captioner"]["ce"]["epochs"]
    assert loop.optimizer == demo_config["training"]["optimizer"]
    ce = typed(CEPhase, demo_config["captioner"]["ce"])
    assert ce.label_smoothing == demo_config["captioner"]["ce"]["label_smoothing"]
    for phase, cls in (("ce", CEPhase), ("rl", RLPhase)):  # no config key goes unread
        fields = set(cls.__dataclass_fields__) | {"epochs", "lr"}
        assert set(demo_config["captioner"][phase]) == fields
    with pytest.raises(KeyError, match="label_smoothing"):
        typed(CEPhase, {k: v for k, v in demo_config["captioner"]["ce"].items()
                        if k != "label_smoothing"})
