"""The model-backed DCASE-2024 metrics (SBERT-sim, FER, FENSE, SPIDEr-FL) wired end to end.

The real models cannot be downloaded here, so the test builds a tiny BERT (random weights, a
24-word vocabulary), saves it as a sentence-transformers folder and as a fluency checker in
aac-metrics' checkpoint format, puts both in the layout `maac evaluate` reads, and checks the
JSON, the per-clip table, the provenance and the MLflow run against aac-metrics' own functions.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import pytest

from maac.evaluation import metric_models as mm
from maac.evaluation.java_setup import SPICE_REASON, ensure_java_tools, spice_status
from maac.evaluation.provenance import file_sha256
from tests.test_metrics import PREDICTIONS, REFERENCES, _run, _write_predictions, _write_references

WORDS = ["a", "an", "the", "dog", "dogs", "barks", "barking", "bark", "is", "in", "distance",
         "rain", "falls", "on", "roof", "people", "are", "talking", "room", "loudly", "crowd",
         "heavy", "metal"]


def build_models(cache: Path) -> mm.MetricModels:
    """A tiny sentence-BERT and fluency checker under ``cache``'s model layout. The checker's
    'error' logit has bias +10, so every caption is flagged (FER 1, FENSE = 0.1 x SBERT-sim)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    models = mm.metric_models(cache)
    encoder = models.encoder_dir
    encoder.mkdir(parents=True)
    vocab = encoder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    config = BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    tokenizer.save_pretrained(str(encoder))
    config.save_pretrained(str(encoder))
    torch.manual_seed(0)
    bert = BertModel(config)
    clf = torch.nn.Linear(16, 6)
    with torch.no_grad():
        clf.bias[5] = 10.0
    state = {f"encoder.{k}": v for k, v in bert.state_dict().items()}
    state.update({f"clf.{k}": v for k, v in clf.state_dict().items()})
    torch.save({"model_type": "tiny-bert", "num_classes": 6, "state_dict": state},
               models.echecker)
    plain = cache / "tiny-bert"
    bert.save_pretrained(str(plain))
    tokenizer.save_pretrained(str(plain))
    transformer = Transformer(str(plain), max_seq_length=32)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(models.sbert_dir))
    return models


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`maac evaluate --run` with the tiny models in place, and aac-metrics' fense() on the same
    captions with the same models (its own PTB preprocessing)."""
    import aac_metrics
    from aac_metrics.functional.fense import fense

    root = tmp_path_factory.mktemp("wired")
    cache = root / "cache"
    models = build_models(cache)
    _write_references(root / "refs.csv")
    _write_predictions(root / "preds.csv", PREDICTIONS)
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("MAAC_PIPELINE_ID", "wiring-test")
    try:
        printed = _run(["evaluate", str(root / "preds.csv"), str(root / "refs.csv"), "--out",
                        str(root / "metrics.json"), "--scores", str(root / "scores.csv"),
                        "--cache-path", str(cache), "--run", "wiring", "--resamples", "50"])
    finally:
        mp.undo()
    tools = ensure_java_tools(cache)
    sbert, (checker, tokenizer) = mm.load_sbert(models), mm.load_echecker(models)
    names = sorted(REFERENCES)
    own = functools.partial(fense, sbert_model=sbert, echecker=checker,
                            echecker_tokenizer=tokenizer, device="cpu")
    direct, direct_sents = aac_metrics.evaluate(
        [PREDICTIONS[n] for n in names], [REFERENCES[n] for n in names], preprocess=True,
        metrics=[own], cache_path=str(cache), java_path=tools.java, device="cpu")
    with (root / "scores.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {"root": root, "cache": cache, "models": models, "printed": printed, "rows": rows,
            "json": json.loads((root / "metrics.json").read_text(encoding="utf-8")),
            "direct": {k: float(v) for k, v in direct.items()},
            "direct_sents": {k: v.tolist() for k, v in direct_sents.items()}}


def test_model_metrics_are_aac_metrics_own_numbers(wired: dict) -> None:
    result, direct = wired["json"], wired["direct"]
    for key in ("sbert_sim", "fer", "fense"):
        assert result[key] == direct[key], key
    assert result["fer"] == 1.0  # the checker flags every caption (its bias) ...
    assert result["fense"] == pytest.approx(0.1 * result["sbert_sim"], rel=1e-12)  # ... penalised
    assert 0 < result["sbert_sim"] <= 1
    for key in ("sbert_sim", "fer", "fense"):
        assert key not in result["unavailable"]
        assert [float(r[key]) for r in wired["rows"]] == wired["direct_sents"][key], key
    assert "FENSE      0." in wired["printed"] and "FER        1.0000" in wired["printed"]


def test_spider_fl_needs_spice_and_is_wired_to_the_checker(wired: dict) -> None:
    """SPICE is absent here, so SPIDEr-FL is null with SPICE's reason; given SPIDEr's outputs,
    the same code path penalises them with the checker's flags (aac-metrics' combination)."""
    import torch

    from maac.evaluation.metrics import _model_scores

    result = wired["json"]
    if spice_status(wired["cache"]) is None:
        pytest.skip("SPICE's CoreNLP jars are installed here")
    assert result["spider_fl"] is None and result["unavailable"]["spider_fl"] == SPICE_REASON
    spider = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    corpus, sents = _model_scores(["a dog barks", "rain falls", "people talk"],
                                  [["a dog is barking"], ["rain on a roof"], ["a crowd"]],
                                  wired["models"], ({"spider": spider.mean()}, {"spider": spider}))
    assert sents["spider_fl"].tolist() == pytest.approx([0.02, 0.05, 0.08], rel=1e-12)
    assert float(corpus["spider_fl"]) == pytest.approx(0.05, rel=1e-12)


def test_provenance_holds_every_model_file_and_reaches_mlflow(wired: dict) -> None:
    from mlflow.tracking import MlflowClient

    record = wired["json"]["provenance"]
    models, cache = wired["models"], wired["cache"]
    assert record["models"] == {p.relative_to(cache).as_posix(): file_sha256(p)
                                for p in models.files()}
    assert "maac-metric-models/fluency/echecker_clotho_audiocaps_base.ckpt" in record["models"]
    assert "maac-metric-models/sbert/paraphrase-TinyBERT-L6-v2/modules.json" in record["models"]
    assert record["settings"]["fluency_checker_is_aac_metrics_release"] is False  # our tiny one
    assert record["packages"]["sentence-transformers"] and record["java"].startswith("11.")
    client = MlflowClient(f"sqlite:///{wired['root'] / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("maac-wiring").experiment_id],
                             filter_string="tags.`maac.stage` = 'evaluate'")[0]
    assert run.data.tags["maac.metrics_fingerprint"] == record["fingerprint"]
    ckpt = "provenance.models.maac-metric-models/fluency/echecker_clotho_audiocaps_base.ckpt"
    assert run.data.params[ckpt] == record["models"][ckpt.removeprefix("provenance.models.")]
    assert run.data.params["provenance.aac_metrics"] == "0.6.0"
    assert {"fense", "fense_low", "fense_high", "sbert_sim", "fer"} <= set(run.data.metrics)


def test_partial_models_name_what_is_missing(tmp_path: Path, wired: dict) -> None:
    import shutil

    models = mm.metric_models(tmp_path)
    assert models.unavailable(None) == dict.fromkeys(mm.MODEL_METRICS, mm.MODELS_REASON)
    shutil.copytree(wired["models"].sbert_dir, models.sbert_dir)
    assert models.unavailable(None) == {"fer": mm.FLUENCY_REASON, "fense": mm.FLUENCY_REASON,
                                        "spider_fl": mm.FLUENCY_REASON}
    report = "\n".join(models.report())
    assert "SBERT-sim: available" in report and str(models.encoder_dir) in report
    assert f"copy {mm.MODELS_DIR}/" in report
    out = _run(["metrics-setup", "--offline", "--cache-path", str(tmp_path)])
    assert "FER: NOT available" in out and "Vocab: available" in out
    assert "download of FENSE's models" in out and "skipped" in out


def test_a_broken_checkpoint_is_one_clear_line(tmp_path: Path, wired: dict) -> None:
    import shutil

    from maac.errors import MaacError

    models = mm.metric_models(tmp_path)
    shutil.copytree(wired["models"].root, models.root)
    models.echecker.write_bytes(b"not a checkpoint")
    with pytest.raises(MaacError, match="echecker_clotho_audiocaps_base.ckpt.*not a loadable "
                                        "fluency checker.*metrics-setup") as err:
        mm.load_echecker(models)
    assert "\n" not in str(err.value)
