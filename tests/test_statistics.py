"""Bootstrap intervals, paired tests and Holm's correction (maac.stats), on hand-built cases and
against aac-metrics' own corpus scores of explicitly resampled corpora."""

from __future__ import annotations

import numpy as np
import pytest

from maac.stats import bootstrap
from maac.stats.clip_metrics import CorpusBleu, PerClipMean


def _mean_metric(scores: np.ndarray) -> PerClipMean:
    return PerClipMean(float(np.mean(scores)), np.asarray(scores, dtype=np.float64))


def test_resamples_are_seeded_and_reproducible() -> None:
    a, b = bootstrap.draw(50, 3, 1000, seed=7), bootstrap.draw(50, 3, 1000, seed=7)
    assert np.array_equal(a.clip_weights, b.clip_weights)
    assert np.array_equal(a.seed_draws, b.seed_draws)
    assert (a.clip_weights.sum(axis=1) == 50).all()
    other = bootstrap.draw(50, 3, 1000, seed=8)
    assert not np.array_equal(a.clip_weights, other.clip_weights)
    rng = np.random.default_rng(0)
    system = [_mean_metric(rng.random(50)) for _ in range(3)]
    assert bootstrap.interval(system, a) == bootstrap.interval(system, b)


def test_one_system_better_on_every_clip_is_better() -> None:
    rng = np.random.default_rng(1)
    worse = rng.random(40)
    better = worse + 0.05 + 0.1 * rng.random(40)  # higher on every clip
    resamples = bootstrap.draw(40, 1, 2000)
    diff = bootstrap.compare([_mean_metric(better)], [_mean_metric(worse)], resamples)
    assert diff.p < 0.01 and diff.low > 0
    assert bootstrap.verdict(diff.difference, diff.p) == "better"
    back = bootstrap.compare([_mean_metric(worse)], [_mean_metric(better)], resamples)
    assert bootstrap.verdict(back.difference, back.p) == "worse"


def test_two_copies_of_the_same_captions_differ_by_nothing() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(30)
    diff = bootstrap.compare([_mean_metric(scores)], [_mean_metric(scores.copy())],
                             bootstrap.draw(30, 1, 1000))
    assert diff.difference == 0 and diff.low == 0 and diff.high == 0
    assert diff.p == 1.0
    assert bootstrap.verdict(diff.difference, diff.p) == "no significant difference (p = 1.00)"


def test_noise_gives_no_significant_difference() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(30), rng.random(30)  # two draws of the same distribution
    diff = bootstrap.compare([_mean_metric(a)], [_mean_metric(b)], bootstrap.draw(30, 1, 2000))
    assert diff.low < diff.difference < diff.high and diff.low < 0 < diff.high
    assert bootstrap.verdict(diff.difference, diff.p).startswith("no significant difference")


def test_constant_per_clip_scores_give_a_zero_width_interval() -> None:
    resamples = bootstrap.draw(25, 1, 1000)
    ci = bootstrap.interval([PerClipMean(0.3, np.full(25, 0.3))], resamples)
    assert ci.low == ci.high == ci.mean == 0.3
    n = 25
    bleu = CorpusBleu(4, np.full(n, 9), np.full(n, 10), np.tile([9, 8, 7, 6], (n, 1)),
                      np.tile([6, 4, 2, 1], (n, 1)))
    ci = bootstrap.interval([bleu], resamples)
    assert ci.low == ci.high
    assert ci.mean == pytest.approx(ci.low, abs=1e-15)


def test_hierarchical_interval_is_wider_when_seeds_differ() -> None:
    rng = np.random.default_rng(4)
    clip_effect = rng.random(60)
    seeds = [_mean_metric(clip_effect + shift) for shift in (0.0, 0.15, -0.1)]
    both = bootstrap.interval(seeds, bootstrap.draw(60, 3, 2000))
    clips_only = bootstrap.interval(seeds[:1], bootstrap.draw(60, 1, 2000))
    assert both.high - both.low > 1.5 * (clips_only.high - clips_only.low)
    # identical seeds: the seed resampling adds nothing
    same = bootstrap.interval([seeds[0]] * 3, bootstrap.draw(60, 3, 2000))
    assert same.high - same.low == pytest.approx(clips_only.high - clips_only.low, rel=0.2)


def test_holm() -> None:
    assert bootstrap.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert bootstrap.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert bootstrap.holm([]) == []


def _resampled(items: list, weights: np.ndarray) -> list:
    return [item for item, w in zip(items, weights, strict=True) for _ in range(int(w))]


CANDIDATES = ["a dog barks in the distance", "rain falls on a roof", "people talk in a room",
              "a bell rings twice", "wind blows", "a car passes by on a wet road"]
REFERENCES = [["a dog is barking far away", "dogs bark in the distance"],
              ["heavy rain on a metal roof", "rain falls on the roof"],
              ["people are talking in a busy room", "a crowd talks indoors"],
              ["a bell rings two times", "church bells ring"],
              ["the wind is blowing hard", "strong wind blows"],
              ["a car drives by on a wet street", "a vehicle passes on a road"]]


def test_weighted_bleu_equals_aac_metrics_on_the_resampled_corpus() -> None:
    """A resample as a real corpus (clips repeated as drawn): aac-metrics' corpus BLEU of it is
    what CorpusBleu computes from the per-clip counts and the weights."""
    from aac_metrics.functional.bleu import bleu

    from maac.evaluation.metrics import _bleu_counts

    counts = _bleu_counts(CANDIDATES, REFERENCES)
    weights = bootstrap.draw(len(CANDIDATES), 1, 5, seed=3).clip_weights
    for order in (1, 2, 3, 4):
        metric = CorpusBleu(order, np.array([c["testlen"] for c in counts]),
                            np.array([c["reflen"] for c in counts]),
                            np.array([[c[f"guess_{k}"] for k in range(1, 5)] for c in counts]),
                            np.array([[c[f"correct_{k}"] for k in range(1, 5)] for c in counts]))
        corpus, _ = bleu(CANDIDATES, REFERENCES, n=order)
        assert metric.full() == float(corpus[f"bleu_{order}"])
        values = metric.weighted(weights)
        for w, value in zip(weights, values, strict=True):
            expected, _ = bleu(_resampled(CANDIDATES, w), _resampled(REFERENCES, w), n=order)
            assert value == pytest.approx(float(expected[f"bleu_{order}"]), rel=1e-12)


def test_mean_metric_equals_aac_metrics_rouge_on_the_resampled_corpus() -> None:
    from aac_metrics.functional.rouge_l import rouge_l

    corpus, sents = rouge_l(CANDIDATES, REFERENCES)
    metric = PerClipMean(float(corpus["rouge_l"]), sents["rouge_l"].numpy())
    weights = bootstrap.draw(len(CANDIDATES), 1, 5, seed=4).clip_weights
    for w, value in zip(weights, metric.weighted(weights), strict=True):
        expected, _ = rouge_l(_resampled(CANDIDATES, w), _resampled(REFERENCES, w))
        assert value == pytest.approx(float(expected["rouge_l"]), rel=1e-12)


def test_resampling_refuses_empty_inputs() -> None:
    with pytest.raises(ValueError, match="cannot resample"):
        bootstrap.draw(0, 1)


def test_validation_interval_of_the_training_stages() -> None:
    """The captioner stages' validation CIDEr-D interval: seeded, around the mean, and of zero
    width when every clip scores the same."""
    from maac.training.captioner_stage import validation_interval

    scores = np.random.default_rng(5).random(100)
    first, again = validation_interval(scores), validation_interval(scores.copy())
    assert first == again and first.low < float(scores.mean()) < first.high
    flat = validation_interval(np.full(100, 0.7))
    assert flat.low == flat.high == pytest.approx(0.7)


def test_the_statistics_layer_imports_nothing_above_it() -> None:
    from tests.conftest import imported_modules

    for path, names in imported_modules("stats").items():
        inside = [n for n in names if n.startswith("maac")]
        assert all(n.startswith("maac.stats") for n in inside), (path, inside)


def test_dcase2024_metrics_resample_as_per_clip_means_and_vocab_has_no_rule() -> None:
    """FENSE, SBERT-sim, FER and SPIDEr-FL are means of per-clip scores (aac-metrics' corpus
    value), so a resample is their weighted mean; Vocab, a corpus count, is refused."""
    from maac.errors import MaacError
    from maac.evaluation.clip_scores import clip_metric, clip_metrics

    rng = np.random.default_rng(3)
    scores = {key: rng.random(20) for key in ("fense", "sbert_sim", "fer", "spider_fl")}
    rows = [{"file_name": f"{i}.wav", **{k: float(v[i]) for k, v in scores.items()}}
            for i in range(20)]
    corpus = {k: float(np.mean(v)) for k, v in scores.items()} | {"vocab": 12.0}
    weights = bootstrap.draw(20, 1, 30, seed=0).clip_weights
    for key, values in scores.items():
        metric = clip_metric(key, corpus, rows)
        assert isinstance(metric, PerClipMean) and metric.full() == corpus[key]
        assert np.allclose(metric.weighted(weights), weights @ values / 20, rtol=1e-12)
    with pytest.raises(MaacError, match="no resampling rule for metric 'vocab'"):
        clip_metric("vocab", corpus, rows)
    assert set(clip_metrics({**corpus, "fense": None}, rows)) == {"sbert_sim", "fer",
                                                                    "spider_fl"}
