"""Keyword encoder, attention, decoder variants, captioner save/load and `maac model params`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from maac.cli import model_commands
from maac.errors import MaacError
from maac.models.captioner import CaptionModel, load_captioner, save_captioner
from maac.models.decoder import VARIANTS, Decoder
from maac.models.keyword_encoder import keyword_loss
from tests.conftest import REPO, imported_modules

VOCAB = 30
KEYWORD_IDS = torch.arange(5, 17)  # 12 keywords, each a vocabulary word
ENCODER = {"width": 0.125, "head_dim": 16, "acoustic_dim": 16}
CAPTIONER = {"embed_dim": 16, "hidden_dim": 16, "attention_dim": 16, "top_keywords": 3,
             "word_dropout": 0.5, "classifier_dropout": 0.25, "detach_keywords": True}


def _model(variant: str = "maac", seed: int = 0, **captioner: object) -> CaptionModel:
    torch.manual_seed(seed)
    model = CaptionModel(ENCODER, {**CAPTIONER, **captioner}, VOCAB, KEYWORD_IDS, variant)
    _randomise_batchnorm(model)
    return model


def _randomise_batchnorm(model: torch.nn.Module) -> None:
    """Non-trivial BN weights and statistics, so eval mode exercises every block (PANNs zeroes
    each residual block's bn2 weight at initialisation)."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            c = module.num_features
            module.weight.data = 0.5 + torch.rand(c, generator=generator)
            module.bias.data = 0.1 * torch.randn(c, generator=generator)
            module.running_mean = 0.1 * torch.randn(c, generator=generator)
            module.running_var = 0.5 + torch.rand(c, generator=generator)


def _tokens(batch: int, steps: int, seed: int = 2) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, steps), generator=torch.Generator().manual_seed(seed))


def test_output_shapes() -> None:
    model = _model().eval()
    features = torch.randn(3, 130, 64)
    lengths = torch.tensor([130, 96, 64])
    logits, enc = model(features, lengths, _tokens(3, 6))
    assert logits.shape == (3, 6, VOCAB)
    assert enc.logits.shape == enc.probs.shape == (3, len(KEYWORD_IDS))
    assert enc.sequence.shape == (3, 130 // 32, 256)  # 2048 * 0.125 channels
    assert enc.mask.tolist() == [[True] * 4, [True] * 3 + [False], [True] * 2 + [False] * 2]
    assert torch.all(enc.sequence[2, 2:] == 0)
    state = model.init(enc)
    assert state.h.shape == state.c.shape == (3, 16)
    assert state.acoustic.shape == (3, 4, 16) and state.keywords.shape == (3, 3, 16)
    assert state.words.shape == (3, 0, 16)
    step_logits, state = model.step(state, torch.zeros(3, dtype=torch.long))
    assert step_logits.shape == (3, VOCAB) and state.words.shape == (3, 0, 16)  # BOS not kept
    _, state = model.step(state, torch.ones(3, dtype=torch.long))
    assert state.words.shape == (3, 1, 16) and state.steps == 2


def test_padding_invariance() -> None:
    """A clip alone and the same clip padded in a batch give the same outputs (eval mode)."""
    model = _model().eval()
    torch.manual_seed(3)
    lengths = [160, 101, 67]
    clips = [torch.randn(n, 64) for n in lengths]
    batch = torch.full((3, 160, 64), 1e3)  # an absurd pad value: it must not matter
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
    tokens = _tokens(3, 5)
    with torch.no_grad():
        logits, enc = model(batch, torch.tensor(lengths), tokens)
        for i, clip in enumerate(clips):
            alone_logits, alone = model(clip[None], None, tokens[i : i + 1])
            frames = alone.sequence.shape[1]
            assert int(enc.mask[i].sum()) == frames
            torch.testing.assert_close(enc.logits[i], alone.logits[0], rtol=0, atol=1e-5)
            torch.testing.assert_close(enc.probs[i], alone.probs[0], rtol=0, atol=1e-5)
            torch.testing.assert_close(enc.sequence[i, :frames], alone.sequence[0], rtol=0,
                                       atol=1e-5)
            torch.testing.assert_close(logits[i], alone_logits[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_teacher_forcing_equals_step_by_step(variant: str) -> None:
    model = _model(variant).eval()
    tokens = _tokens(2, 7)
    with torch.no_grad():
        enc = model.encode(torch.randn(2, 96, 64), torch.tensor([96, 70]))
        forced = model.decoder(enc, tokens)
        state = model.init(enc)
        stepped = []
        for t in range(tokens.shape[1]):
            step_logits, state = model.step(state, tokens[:, t])
            stepped.append(step_logits)
    torch.testing.assert_close(torch.stack(stepped, dim=1), forced, rtol=0, atol=1e-5)


def test_reordered_state_keeps_each_hypothesis_memory() -> None:
    """After index_select (beam search), every hypothesis continues with its own P^."""
    model = _model("prev_words").eval()
    with torch.no_grad():
        enc = model.encode(torch.randn(1, 64, 64)).index_select(torch.zeros(3, dtype=torch.long))
        prefix = torch.tensor([[0, 4, 9], [0, 7, 2], [0, 3, 3]])
        state = model.init(enc)
        for t in range(3):
            _, state = model.step(state, prefix[:, t])
        order = torch.tensor([2, 0, 0])
        state = state.index_select(order)
        logits, _ = model.step(state, torch.tensor([5, 5, 5]))
        expected = model.decoder(enc.index_select(order),
                                 torch.cat([prefix[order], torch.full((3, 1), 5)], dim=1))
    torch.testing.assert_close(logits, expected[:, -1], rtol=0, atol=1e-5)
    assert torch.equal(state.words[1], state.words[2]) and not torch.equal(state.words[0],
                                                                           state.words[1])


def test_gradients_reach_every_parameter_that_should_train() -> None:
    """Caption loss reaches the decoder and the trunk; keyword loss the trunk and keyword heads.

    The keyword heads get no gradient from the caption loss: the K keywords are chosen by top-k.
    """
    model = _model("maac").train()
    for module in model.modules():  # undo PANNs' zeroed residual gates so every path is live
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.fill_(1.0)
    tokens = _tokens(3, 6)
    logits, enc = model(torch.randn(3, 100, 64), torch.tensor([100, 80, 64]), tokens)
    caption_loss = F.cross_entropy(logits.reshape(-1, VOCAB), _tokens(3, 6, seed=5).reshape(-1))
    caption_loss.backward(retain_graph=True)
    heads = {n for n, _ in model.named_parameters() if n.startswith(("encoder.heads",
                                                                     "encoder.classifier"))}
    for name, p in model.named_parameters():
        if name in heads:
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.zero_grad(set_to_none=True)
    targets = (torch.rand(3, len(KEYWORD_IDS)) < 0.3).float()
    keyword_loss(enc.logits, targets).backward()
    for name, p in model.named_parameters():
        if name.startswith("encoder."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


def test_variants_differ_exactly_as_described() -> None:
    """Parameter counts per variant: one attention module is 816 parameters at these sizes and
    one projection into the latent space (W -> W^ or P -> P^) 272."""
    counts = {v: sum(p.numel() for p in _model(v).decoder.parameters()) for v in VARIANTS}
    assert counts == {"base": 8094, "prev_words": 8094 + 816 + 272,
                      "keywords": 8094 + 816 + 272, "both_unshared": 8094 + 2 * 816 + 2 * 272,
                      "maac": 8094 + 816 + 2 * 272}
    modules = {v: {n for n, _ in _model(v).decoder.named_children() if n.endswith("attention")}
               for v in VARIANTS}
    assert modules["base"] == {"acoustic_attention"}
    assert modules["prev_words"] == modules["keywords"] == modules["maac"] == {
        "acoustic_attention", "semantic_attention"}
    assert modules["both_unshared"] == {"acoustic_attention", "keyword_attention",
                                        "word_attention"}
    projections = {v: {n for n, _ in _model(v).decoder.named_children() if n.endswith("_proj")}
                   for v in VARIANTS}  # one per memory; both_unshared shares maac's pair
    assert projections == {"base": {"acoustic_proj"},
                           "prev_words": {"acoustic_proj", "word_proj"},
                           "keywords": {"acoustic_proj", "keyword_proj"},
                           "both_unshared": {"acoustic_proj", "keyword_proj", "word_proj"},
                           "maac": {"acoustic_proj", "keyword_proj", "word_proj"}}
    flags = {v: (_model(v).decoder.uses_keywords, _model(v).decoder.uses_words) for v in VARIANTS}
    assert flags == {"base": (False, False), "prev_words": (False, True),
                     "keywords": (True, False), "both_unshared": (True, True),
                     "maac": (True, True)}


def test_unshared_with_equal_modules_is_maac_and_keywords_matter() -> None:
    """both_unshared with two copies of maac's semantic module computes exactly maac."""
    maac = _model("maac").eval()
    unshared = _model("both_unshared").eval()
    state = maac.state_dict()
    for key, value in list(state.items()):
        if ".semantic_attention." in key:
            del state[key]
            state[key.replace("semantic_attention", "keyword_attention")] = value
            state[key.replace("semantic_attention", "word_attention")] = value
    unshared.load_state_dict(state)
    tokens = _tokens(2, 5)
    with torch.no_grad():
        enc = maac.encode(torch.randn(2, 64, 64))
        torch.testing.assert_close(unshared.decoder(enc, tokens), maac.decoder(enc, tokens))
        other = type(enc)(-enc.logits, 1 - enc.probs, enc.sequence, enc.mask)  # other keywords
        assert not torch.allclose(maac.decoder(other, tokens), maac.decoder(enc, tokens))
        base = _model("base").eval()
        torch.testing.assert_close(base.decoder(other, tokens), base.decoder(enc, tokens))


def test_keywords_and_previous_words_are_projected_into_the_latent_space() -> None:
    """W^ = W W_w + b_w and P^ = P W_p + b_p (paper Sec. 2.2): the semantic attention runs over
    the projections, not over the embeddings themselves."""
    model = _model("maac").eval()
    dec = model.decoder
    with torch.no_grad():
        enc = model.encode(torch.randn(2, 64, 64))
        state = model.init(enc)
        top = enc.probs.topk(CAPTIONER["top_keywords"], dim=1).indices
        w = dec.embedding(dec.keyword_ids[top])
        torch.testing.assert_close(state.keywords, dec.keyword_proj(w), rtol=0, atol=0)
        tokens = torch.tensor([[0, 4, 9], [0, 7, 2]])
        for t in range(3):
            _, state = model.step(state, tokens[:, t])
        # one step's (2, E) product against the (2, 2, E) one: BLAS may round them apart by an
        # ulp on some CPUs (2.4e-7 measured on one host), so float32's default tolerance here
        torch.testing.assert_close(state.words, dec.word_proj(dec.embedding(tokens[:, 1:])))
        before = dec(enc, tokens)
        for proj in (dec.keyword_proj, dec.word_proj):  # each projection changes the captions
            saved = proj.weight.clone()
            proj.weight.mul_(-2.0)
            assert not torch.allclose(dec(enc, tokens), before)
            proj.weight.copy_(saved)
        torch.testing.assert_close(dec(enc, tokens), before, rtol=0, atol=0)


@pytest.mark.parametrize("detach", [True, False])
def test_keyword_embeddings_are_detached_and_not_dropped_out_only_if_configured(
    detach: bool,
) -> None:
    """detach_keywords (the authors' code): W gets no word dropout and trains no embedding row."""
    model = _model("keywords", detach_keywords=detach).train()
    model.encoder.eval()
    dec = model.decoder
    with torch.no_grad():
        enc = model.encode(torch.randn(2, 64, 64))
    top = enc.probs.topk(CAPTIONER["top_keywords"], dim=1).indices
    chosen = dec.keyword_ids[top].unique()
    tokens = torch.full((2, 4), 20)  # not a keyword id: the caption's own rows are row 20 only
    assert not bool((chosen == 20).any())
    torch.manual_seed(0)
    first = model.init(enc).keywords
    second = model.init(enc).keywords
    assert torch.equal(first, second) == detach  # word dropout draws anew unless detached
    dec(enc, tokens).sum().backward()
    keyword_rows = dec.embedding.weight.grad[chosen]
    assert bool((keyword_rows == 0).all()) == detach
    assert dec.keyword_proj.weight.grad.abs().sum() > 0  # W^'s projection trains either way


def test_bad_dimensions_and_variants_are_errors() -> None:
    with pytest.raises(MaacError, match="must be equal"):
        CaptionModel(dict(ENCODER, acoustic_dim=32), CAPTIONER, VOCAB, KEYWORD_IDS)
    with pytest.raises(MaacError, match="unknown captioner variant"):
        CaptionModel(ENCODER, CAPTIONER, VOCAB, KEYWORD_IDS, "both")
    with pytest.raises(MaacError, match="vocabulary ids"):
        Decoder(VOCAB, torch.tensor([3, 40, 5]), 256, 16, 16, 16, 16, top_keywords=3)
    with pytest.raises(MaacError, match="top_keywords"):
        Decoder(VOCAB, torch.tensor([3, 4]), 256, 16, 16, 16, 16, top_keywords=3)


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = _model("both_unshared").eval()
    path = tmp_path / "captioner.pt"
    save_captioner(model, path, extra={"epoch": 3})
    assert [p.name for p in tmp_path.iterdir()] == ["captioner.pt"]  # no temporary left
    loaded, meta = load_captioner(path, vocab_size=VOCAB, num_keywords=len(KEYWORD_IDS))
    loaded.eval()
    assert meta["epoch"] == 3 and meta["variant"] == "both_unshared"
    assert meta["config_hash"] == model.meta["config_hash"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    features, tokens = torch.randn(1, 64, 64), _tokens(1, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(features, None, tokens)[0],
                                   model(features, None, tokens)[0])
    with pytest.raises(MaacError, match="vocabulary of 30 words, but this vocabulary has 31"):
        load_captioner(path, vocab_size=31)
    with pytest.raises(MaacError, match="12 keywords"):
        load_captioner(path, num_keywords=300)
    with pytest.raises(MaacError, match="not found"):
        load_captioner(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "panns.pt")
    with pytest.raises(MaacError, match="not a maac checkpoint"):
        load_captioner(tmp_path / "panns.pt")


def test_checkpoints_without_the_semantic_projections_are_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """A checkpoint written before W^ / P^ (format maac-captioner/1, no keyword_proj or word_proj
    weights) is refused with one readable line, never a traceback of missing keys."""
    model = _model("maac")
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith(("decoder.keyword_proj.", "decoder.word_proj."))}
    meta = {**model.meta, "format": "maac-captioner/1"}
    meta["captioner"] = {k: v for k, v in meta["captioner"].items() if k != "detach_keywords"}
    torch.save({"state_dict": state, "meta": meta}, tmp_path / "old.pt")
    with pytest.raises(MaacError) as err:
        load_captioner(tmp_path / "old.pt")
    message = str(err.value)
    assert "\n" not in message and "maac-captioner/1" in message and "retrain" in message
    assert "W -> W^ and P -> P^" in message
    torch.save({"state_dict": state, "meta": model.meta}, tmp_path / "cut.pt")  # current format
    with pytest.raises(MaacError) as err:
        load_captioner(tmp_path / "cut.pt")
    message = str(err.value)
    assert "\n" not in message
    assert "missing decoder.keyword_proj.bias, decoder.keyword_proj.weight, " in message


def _params_output(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    model_commands.register(sub, REPO / "config" / "config.yaml")
    args = parser.parse_args(argv)
    args.handler(args)
    return capsys.readouterr().out


def test_model_params_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    out = _params_output(["model", "params"], capsys)
    rows = {line.split("|")[1].strip().strip("*"): int(line.split("|")[4].replace(",", ""))
            for line in out.splitlines() if line.startswith("| ") and "---" not in line
            and "component" not in line}
    assert rows["ResNet38 trunk (bn0 .. conv_block_after1)"] == 68_507_072
    assert rows["word embedding"] == 4368 * 512
    assert rows["LSTM"] == 4 * 512 * (512 + 512) + 2 * 4 * 512
    assert rows["word classifier"] == 512 * 4368 + 4368
    assert rows["keyword classifier (-> N keywords)"] == 3 * 2048 * 300 + 300
    assert rows["keyword projection W -> W^"] == rows["previous-word projection P -> P^"] == (
        512 * 512 + 512)
    parts = sum(n for name, n in rows.items()
                if name not in ("keyword encoder", "decoder", "total"))
    assert parts == rows["total"] == rows["keyword encoder"] + rows["decoder"]
    out = _params_output(["model", "params", "--variant", "base", "--config",
                          str(REPO / "config" / "demo.yaml"), "--vocab-size", "50"], capsys)
    assert "semantic attention" not in out and "width 0.125" in out


def test_models_layer_imports_no_higher_layer() -> None:
    forbidden = ("maac.training", "maac.decoding", "maac.evaluation", "maac.cli",
                 "maac.tracking")
    for path, names in imported_modules("models").items():
        assert not any(n.startswith(forbidden) for n in names), (path, names)
