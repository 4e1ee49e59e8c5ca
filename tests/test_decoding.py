"""Greedy, sampling and beam search on the step API: agreement, masking, per-hypothesis memory."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from maac.decoding import (
    Decoded,
    beam_search,
    beam_search_one,
    beam_search_reference,
    greedy,
    sample,
    to_text,
)
from maac.decoding.decoded import step_logprobs
from maac.models.captioner import CaptionModel
from maac.models.keyword_encoder import EncoderOutput
from maac.text.vocabulary import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from tests.conftest import REPO, imported_modules

VOCAB = 30
KEYWORD_IDS = torch.arange(5, 17)
ENCODER = {"width": 0.125, "head_dim": 16, "acoustic_dim": 16}
CAPTIONER = {"embed_dim": 16, "hidden_dim": 16, "attention_dim": 16, "top_keywords": 3,
             "word_dropout": 0.5, "classifier_dropout": 0.25}
LENGTHS = [160, 101, 67, 130, 96]


def _model(variant: str = "maac", seed: int = 0, eos_bias: float = 2.5) -> CaptionModel:
    """A tiny random captioner in float64 (exact comparisons), eval mode, that ends captions at
    varied lengths (EOS logit raised)."""
    torch.manual_seed(seed)
    model = CaptionModel(ENCODER, CAPTIONER, VOCAB, KEYWORD_IDS, variant).double().eval()
    generator = torch.Generator().manual_seed(seed + 1)
    for module in model.modules():  # PANNs zeroes each block's bn2 weight: make every path live
        if isinstance(module, torch.nn.BatchNorm2d):
            c = module.num_features
            module.weight.data = (0.5 + torch.rand(c, generator=generator)).double()
            module.running_var = (0.5 + torch.rand(c, generator=generator)).double()
    with torch.no_grad():
        model.decoder.classifier.weight.mul_(8.0)  # peaked, model-dependent distributions
        model.decoder.classifier.bias[EOS_ID] += eos_bias
    return model


def _clips(seed: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 64, generator=generator, dtype=torch.float64) for n in LENGTHS]


def _padded(clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    batch = torch.full((len(clips), max(len(c) for c in clips), 64), 1e3, dtype=torch.float64)
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
    return batch, torch.tensor([len(c) for c in clips])


def _encode(model: CaptionModel, seed: int = 3) -> EncoderOutput:
    with torch.no_grad():
        return model.encode(*_padded(_clips(seed)))


# A model whose next-token distribution depends on the whole previous-word memory of the state.
@dataclass
class HistoryState:
    words: torch.Tensor  # (B, t) every token fed after BOS
    bias: torch.Tensor  # (B, V) per clip

    def index_select(self, index: torch.Tensor) -> HistoryState:
        return HistoryState(self.words.index_select(0, index), self.bias.index_select(0, index))


class RootMemoryState(HistoryState):
    """Bug 1 of the authors' code: every hypothesis gets the first row's memory."""

    def index_select(self, index: torch.Tensor) -> HistoryState:
        root = torch.zeros_like(index)
        return RootMemoryState(self.words.index_select(0, root), self.bias.index_select(0, index))


class HistoryModel:
    def __init__(self, seed: int = 0, state_type: type = HistoryState) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.table = 3.0 * torch.randn(101, VOCAB, generator=generator, dtype=torch.float64)
        self.table[:, EOS_ID] += 2.5  # captions of varied lengths
        self.state_type = state_type

    def init(self, encoder_out: EncoderOutput) -> HistoryState:
        rows = encoder_out.logits.shape[0]
        return self.state_type(torch.zeros(rows, 0, dtype=torch.long), encoder_out.logits)

    def step(self, state: HistoryState, tokens: torch.Tensor):
        words = state.words
        if not bool((tokens == BOS_ID).all()):
            words = torch.cat([words, tokens[:, None]], dim=1)
        weights = torch.tensor([7 ** i for i in range(words.shape[1])], dtype=torch.long)
        bucket = (words * weights).sum(dim=1) % 101
        return self.table[bucket] + state.bias, self.state_type(words, state.bias)


def _fake_encoder_out(clips: int = 4, seed: int = 5) -> EncoderOutput:
    generator = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn(clips, VOCAB, generator=generator, dtype=torch.float64)
    logits[:, EOS_ID] += 2.0
    return EncoderOutput(logits, logits.sigmoid(), torch.zeros(clips, 1, 1),
                         torch.ones(clips, 1, dtype=torch.bool))


def _rescore(model, encoder_out, decoded: Decoded) -> torch.Tensor:
    """Teacher-forced per-token log-probabilities of ``decoded``'s tokens, in a fresh state."""
    state = model.init(encoder_out)
    tokens = torch.full((len(decoded),), BOS_ID, dtype=torch.long)
    out = []
    for t in range(decoded.tokens.shape[1]):
        logits, state = model.step(state, tokens)
        tokens = decoded.tokens[:, t]
        out.append(step_logprobs(logits, t).gather(1, tokens.clamp(min=0)[:, None])[:, 0])
    logprobs = torch.stack(out, dim=1)
    return logprobs.masked_fill(decoded.tokens == PAD_ID, 0.0)


def _check_well_formed(decoded: Decoded, max_length: int) -> None:
    rows, width = decoded.tokens.shape
    assert width <= max_length and decoded.lengths.shape == decoded.scores.shape == (rows,)
    assert decoded.logprobs.shape == (rows, width)
    for tokens, logprobs, n in zip(decoded.tokens.tolist(), decoded.logprobs.tolist(),
                                   decoded.lengths.tolist(), strict=True):
        assert 1 <= n <= width
        assert tokens[0] not in (EOS_ID, PAD_ID, BOS_ID)
        assert all(tok not in (PAD_ID, BOS_ID) for tok in tokens[:n])
        assert EOS_ID not in tokens[: n - 1]
        assert tokens[n - 1] == EOS_ID or n == max_length
        assert all(tok == PAD_ID for tok in tokens[n:]) and all(lp == 0 for lp in logprobs[n:])
        assert all(lp < 0 for lp in logprobs[:n])


@pytest.mark.parametrize("variant", ["maac", "base"])
def test_greedy_is_well_formed_and_scores_are_the_models(variant: str) -> None:
    model = _model(variant)
    enc = _encode(model)
    decoded = greedy(model, enc, max_length=12)
    _check_well_formed(decoded, 12)
    assert (decoded.lengths < 12).any() and (decoded.lengths > 1).any()  # varied lengths
    torch.testing.assert_close(decoded.scores, decoded.logprobs.sum(dim=1))
    with torch.no_grad():
        torch.testing.assert_close(_rescore(model, enc, decoded), decoded.logprobs)
        # greedy: every token is the argmax of its step
        state, tokens = model.init(enc), torch.full((len(LENGTHS),), BOS_ID)
        for t in range(decoded.tokens.shape[1]):
            logits, state = model.step(state, tokens)
            tokens = decoded.tokens[:, t]
            live = t < decoded.lengths
            assert torch.equal(step_logprobs(logits, t).argmax(1)[live], tokens[live])


@pytest.mark.parametrize("variant", ["maac", "prev_words", "base"])
def test_beam_1_equals_greedy(variant: str) -> None:
    model = _model(variant)
    enc = _encode(model)
    g = greedy(model, enc, max_length=15)
    b = beam_search(model, enc, beam_size=1, max_length=15, length_penalty=1.15)
    assert torch.equal(b.tokens, g.tokens) and torch.equal(b.lengths, g.lengths)
    torch.testing.assert_close(b.logprobs, g.logprobs)
    torch.testing.assert_close(b.scores, g.scores / g.lengths.double() ** 1.15)


@pytest.mark.parametrize(("seed", "penalty"), [(0, 1.15), (1, 1.15), (2, 0.0), (3, 1.0)])
def test_beam_4_is_never_worse_than_greedy(seed: int, penalty: float) -> None:
    """Not a theorem (a beam can prune the greedy path), but it must hold on these cases."""
    model = _model("maac", seed=seed)
    enc = _encode(model, seed=seed + 10)
    g = greedy(model, enc, max_length=20)
    b = beam_search(model, enc, beam_size=4, max_length=20, length_penalty=penalty)
    _check_well_formed(b, 20)
    greedy_norm = g.scores / g.lengths.double() ** penalty
    assert (b.scores >= greedy_norm - 1e-12).all(), (b.scores, greedy_norm)
    torch.testing.assert_close(b.scores, b.logprobs.sum(1) / b.lengths.double() ** penalty)
    if seed == 0:  # not vacuous: here the beam finds better captions than greedy for some clips
        assert (b.scores > greedy_norm + 1e-6).any()


def test_batch_equals_each_clip_alone() -> None:
    """Padded clips of different lengths in one batch decode as each clip alone."""
    model = _model("maac")
    with torch.no_grad():
        enc = model.encode(*_padded(_clips()))
        batch_g = greedy(model, enc, 20)
        batch_b = beam_search(model, enc, 4, 20, 1.15)
        for i, clip in enumerate(_clips()):
            alone = model.encode(clip[None], None)
            g = greedy(model, alone, 20)
            b = beam_search(model, alone, 4, 20, 1.15)
            for batched, single in ((batch_g, g), (batch_b, b)):
                n = int(single.lengths[0])
                assert int(batched.lengths[i]) == n
                assert torch.equal(batched.tokens[i, :n], single.tokens[0, :n])
                torch.testing.assert_close(batched.scores[i], single.scores[0])


@pytest.mark.parametrize(("beam", "max_length"), [(4, 30), (3, 6), (2, 3)])
def test_batched_beam_equals_reference_beam(beam: int, max_length: int) -> None:
    model = _model("maac", seed=3, eos_bias=1.5)  # clips end at varied lengths (beam 4: 4-5)
    enc = _encode(model)
    batched = beam_search(model, enc, beam, max_length, 1.15)
    reference = beam_search_reference(model, enc, beam, max_length, 1.15)
    assert torch.equal(batched.tokens, reference.tokens)
    assert torch.equal(batched.lengths, reference.lengths)
    torch.testing.assert_close(batched.scores, reference.scores)
    torch.testing.assert_close(batched.logprobs, reference.logprobs)
    one = beam_search_one(model, enc.index_select(torch.tensor([1])), beam, max_length, 1.15)
    assert torch.equal(one.tokens[0], reference.tokens[1, : one.tokens.shape[1]])
    if max_length == 3:
        assert (batched.lengths == 3).any()  # some clip ended by max_length, not EOS


def test_beam_on_a_history_model_equals_reference_and_rescoring() -> None:
    """Logits that depend on every previous word: each hypothesis must keep its own memory."""
    model = HistoryModel()
    enc = _fake_encoder_out()
    for beam in (2, 4, 6):
        batched = beam_search(model, enc, beam, 10, 1.15)
        reference = beam_search_reference(model, enc, beam, 10, 1.15)
        assert torch.equal(batched.tokens, reference.tokens)
        torch.testing.assert_close(batched.scores, reference.scores)
        torch.testing.assert_close(_rescore(model, enc, batched), batched.logprobs)
    assert (batched.lengths < 10).any() and (batched.lengths > 1).any()


def test_rescoring_detects_the_shared_root_memory_bug() -> None:
    """The check above fails for bug 1 (every hypothesis gets the root's previous words)."""
    buggy = HistoryModel(state_type=RootMemoryState)
    enc = _fake_encoder_out()
    decoded = beam_search(buggy, enc, 4, 10, 1.15)
    assert not torch.allclose(_rescore(HistoryModel(), enc, decoded), decoded.logprobs)


def test_beam_on_the_real_model_keeps_each_hypothesis_memory() -> None:
    model = _model("prev_words")
    enc = _encode(model)
    decoded = beam_search(model, enc, 4, 20, 1.15)
    with torch.no_grad():
        torch.testing.assert_close(_rescore(model, enc, decoded), decoded.logprobs)


def test_sampling_shapes_gradient_and_rows() -> None:
    model = _model("maac", eos_bias=0.0)
    model.decoder.classifier.weight.data /= 8.0  # flatter distributions: varied samples
    features, lengths = _padded(_clips())
    enc = model.encode(features, lengths)
    torch.manual_seed(0)
    decoded = sample(model, enc, n=5, max_length=8)
    rows = len(LENGTHS) * 5
    assert decoded.tokens.shape[0] == rows and decoded.logprobs.requires_grad
    _check_well_formed(decoded, 8)
    for i in range(len(LENGTHS)):
        distinct = {tuple(r) for r in decoded.tokens[i * 5 : i * 5 + 5].tolist()}
        assert len(distinct) >= 3
    with torch.no_grad():
        expanded = enc.index_select(torch.arange(len(LENGTHS)).repeat_interleave(5))
        torch.testing.assert_close(_rescore(model, expanded, decoded), decoded.logprobs.detach())
    decoded.scores.sum().backward()
    assert model.decoder.classifier.weight.grad.abs().sum() > 0
    assert model.decoder.lstm.weight_hh.grad.abs().sum() > 0
    assert model.encoder.trunk.conv_block1.conv1.weight.grad.abs().sum() > 0


def test_sampling_is_clip_major_and_temperature_sharpens() -> None:
    model = HistoryModel()
    enc = _fake_encoder_out(clips=3)
    enc.logits[:] = -30.0
    for clip in range(3):
        enc.logits[clip, 5 + clip] = 30.0  # clip i always says word 5 + i
    decoded = sample(model, enc, n=4, max_length=3)
    assert decoded.tokens[:, 0].tolist() == [5] * 4 + [6] * 4 + [7] * 4
    torch.manual_seed(1)
    cold = sample(model, _fake_encoder_out(clips=2), n=6, max_length=5, temperature=0.01)
    assert len({tuple(r) for r in cold.tokens[:6].tolist()}) == 1  # nearly greedy


def test_to_text() -> None:
    vocab = Vocabulary.build(["a dog barks", "a dog runs"])
    ids = vocab.word_to_id
    tokens = torch.tensor([[ids["a"], ids["dog"], EOS_ID, PAD_ID],
                           [ids["dog"], ids["runs"], ids["barks"], ids["a"]]])
    decoded = Decoded(tokens, torch.tensor([3, 4]), torch.zeros(2, 4), torch.zeros(2))
    assert to_text(decoded, vocab) == ["a dog", "dog runs barks a"]


def test_bad_arguments() -> None:
    model, enc = HistoryModel(), _fake_encoder_out()
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(model, enc, 0, 10, 1.0)
    with pytest.raises(ValueError, match="max_length"):
        greedy(model, enc, 0)
    with pytest.raises(ValueError, match="n must be"):
        sample(model, enc, 0, 10)


def test_decoding_layer_imports_no_higher_layer() -> None:
    allowed = ("maac.decoding", "maac.models", "maac.text", "maac.errors")
    for path, names in imported_modules("decoding").items():
        for name in names:
            assert not name.startswith("maac") or name.startswith(allowed), (path, name)


def _feature_file(path, clips: list[torch.Tensor], names: list[str]) -> None:
    import h5py
    import numpy as np

    offsets = np.cumsum([0] + [len(c) for c in clips])
    with h5py.File(path, "w") as h5:
        h5["logmel"] = torch.cat(clips).float().numpy()
        h5["offsets"] = offsets.astype(np.int64)
        h5.create_dataset("split", data=["evaluation"] * len(clips),
                          dtype=h5py.string_dtype("utf-8"))
        h5.create_dataset("file_name", data=names, dtype=h5py.string_dtype("utf-8"))
        h5.attrs["n_mels"] = 64


def test_decode_command_writes_captions_in_store_order(tmp_path) -> None:
    import argparse
    import csv

    from maac.cli import eval_commands
    from maac.models.captioner import load_captioner, save_captioner

    vocab = Vocabulary.build([" ".join(f"w{chr(97 + i)}" for i in range(VOCAB - 4))])
    vocab.save(tmp_path / "vocab.json")
    save_captioner(_model("maac").float(), tmp_path / "model.pt")
    names = [f"clip {i}, take {i}.wav" for i in range(len(LENGTHS))]
    clips = _clips()
    _feature_file(tmp_path / "evaluation.h5", clips, names)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    eval_commands.register(sub, REPO / "config" / "config.yaml")
    model, _ = load_captioner(tmp_path / "model.pt")
    model.eval()
    for method in ("beam", "greedy"):
        out = tmp_path / f"captions_{method}.csv"
        args = parser.parse_args([
            "decode", "--checkpoint", str(tmp_path / "model.pt"), "--features",
            str(tmp_path / "evaluation.h5"), "--vocab", str(tmp_path / "vocab.json"), "--out",
            str(out), "--method", method, "--batch-size", "2", "--max-length", "12",
            "--device", "cpu"])
        args.handler(args)
        with out.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [r["file_name"] for r in rows] == names
        with torch.no_grad():
            for row, clip in zip(rows, clips, strict=True):
                enc = model.encode(clip[None].float(), None)
                decoded = (beam_search(model, enc, 4, 12, 1.15) if method == "beam"
                           else greedy(model, enc, 12))
                assert row["caption"] == to_text(decoded, vocab)[0] != ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "captions_beam.csv", "captions_greedy.csv", "evaluation.h5", "model.pt", "vocab.json"]


def test_beam_search_builds_no_graph_and_refuses_a_beam_wider_than_the_vocabulary() -> None:
    model = _model("maac")
    enc = _encode(model)
    grad_enabled = []
    step = model.step

    def recording_step(state, tokens):
        grad_enabled.append(torch.is_grad_enabled())
        return step(state, tokens)

    model.step = recording_step  # the parameters require grad: only no_grad keeps graphs out
    beam_search(model, enc, 3, 5, 1.15)
    assert grad_enabled and not any(grad_enabled)
    with pytest.raises(ValueError, match="larger than the vocabulary"):
        beam_search(model, enc, VOCAB + 1, 5, 1.15)
