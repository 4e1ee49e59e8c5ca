"""A model bundle: one file with everything needed to caption audio.

``torch.save`` of a dict of plain values and tensors (so it loads with ``weights_only=True``):
the captioner's weights and metadata, the vocabulary (``vocab.json``'s bytes), the keyword list
(rank order), the front-end and decoding config sections, and a sha256 of each part, the
metadata included. Loading recomputes every sum, checks the vocabulary against the sha256 that
training recorded in the metadata, validates the settings against the config schema and checks
the parts against each other (vocabulary size, keyword count and ids, mel bands), so a bundle
assembled from mismatching parts, or edited afterwards, is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from maac.config import validate_config
from maac.errors import MaacError
from maac.models.captioner import CaptionModel, captioner_from_state, full_state
from maac.models.checkpoint import load_torch_file, read_checkpoint, save_torch
from maac.text.keywords import KeywordTable
from maac.text.vocabulary import Vocabulary

FORMAT = "maac-bundle/2"
OLD_FORMATS = ("maac-bundle/1",)  # no checksum over the metadata; vocabulary not checked
SETTINGS = ["audio", "decoding"]
PARTS = ("vocab", "keywords", *SETTINGS, "meta")  # with the weights: what the sums cover
REBUILD = "rebuild with maac bundle"
_TYPES = {"state_dict": dict, "meta": dict, "vocab": bytes, "keywords": list, "audio": dict,
          "decoding": dict, "sha256": dict}


class BundleError(MaacError):
    """A bundle that is unreadable, corrupt, or whose parts do not belong together."""


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _sha256_weights(state_dict: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        digest.update(key.encode())
        digest.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _sums(blob: dict[str, Any]) -> dict[str, str]:
    """The sha256 of every part: the vocabulary's bytes as its file's (training records that),
    the weights tensor by tensor, the other parts as sorted JSON."""
    return {"weights": _sha256_weights(blob["state_dict"]),
            "vocab": hashlib.sha256(blob["vocab"]).hexdigest(),
            **{k: _sha256_json(blob[k]) for k in PARTS if k != "vocab"}}


@dataclass
class Bundle:
    model: CaptionModel
    vocab: Vocabulary
    keywords: list[str]
    audio: dict[str, Any]
    decoding: dict[str, Any]
    meta: dict[str, Any]


def _trained_with(meta: dict[str, Any], key: str, path: Path, checkpoint: Path | str) -> None:
    """Refuse a text artifact other than the one the checkpoint was trained with."""
    what = {"vocab": "vocabulary", "keywords": "keyword table"}[key]
    recorded = meta.get(f"{key}_sha256")
    if recorded is None:
        raise BundleError(f"{checkpoint}: the checkpoint does not record which {what} it was "
                          "trained with; bundle a captioner checkpoint made by maac train")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != recorded:
        raise BundleError(
            f"{path}: not the {what} {checkpoint} was trained with (sha256 {actual[:12]}, "
            f"trained with {recorded[:12]}); bundle it with its run's own text artifacts"
        )


def write_bundle(
    checkpoint: Path | str, vocab_path: Path | str, keywords_path: Path | str,
    audio_cfg: dict[str, Any], decoding_cfg: dict[str, Any], out: Path | str,
    encoder: Path | str | None = None,
) -> None:
    """Pack a trained captioner with its vocabulary, keywords and configs into ``out``
    (``encoder``: the encoder checkpoint of a decoder-only one; default the path it names)."""
    vocab_path, keywords_path = Path(vocab_path), Path(keywords_path)
    state_dict, meta = read_checkpoint(checkpoint)
    state_dict = full_state(state_dict, meta, str(checkpoint), encoder)  # with the encoder
    Vocabulary.load(vocab_path)  # a readable vocabulary, or its own error
    keywords = KeywordTable.load(keywords_path).words
    _trained_with(meta, "vocab", vocab_path, checkpoint)
    _trained_with(meta, "keywords", keywords_path, checkpoint)
    blob = {"format": FORMAT, "state_dict": state_dict, "meta": meta,
            "vocab": vocab_path.read_bytes(), "keywords": keywords, "audio": audio_cfg,
            "decoding": decoding_cfg}
    blob["sha256"] = _sums(blob)
    _check(blob, str(out))
    save_torch(blob, out)  # the same parts give the same bytes


def _check_form(blob: Any, source: str) -> None:
    """A dict of this format with every part, each of the right type."""
    if not isinstance(blob, dict) or "format" not in blob:
        raise BundleError(f"{source}: not a maac model bundle; {REBUILD}")
    if blob["format"] in OLD_FORMATS:
        raise BundleError(f"{source}: a bundle of an older format ({blob['format']}) whose "
                          f"checksums do not cover all of its parts; {REBUILD}")
    if blob["format"] != FORMAT:
        raise BundleError(f"{source}: not a maac model bundle (format {blob['format']!r}, "
                          f"expected {FORMAT}); {REBUILD}")
    missing = [k for k in _TYPES if k not in blob]
    wrong = [k for k, kind in _TYPES.items() if k in blob and not isinstance(blob[k], kind)]
    if "state_dict" not in wrong and not all(isinstance(v, torch.Tensor)
                                             for v in blob.get("state_dict", {}).values()):
        wrong.append("state_dict")
    if missing or wrong:
        what = "; ".join(x for x in (missing and f"missing {', '.join(missing)}",
                                     wrong and f"malformed {', '.join(wrong)}") if x)
        raise BundleError(f"{source}: the bundle is damaged ({what}); {REBUILD}")


def _check(blob: Any, source: str) -> Bundle:
    """Verify a bundle's parts: form, checksums, vocabulary, settings, mutual consistency."""
    _check_form(blob, source)
    sums = _sums(blob)
    bad = [k for k, v in sums.items() if blob["sha256"].get(k) != v]
    if bad:
        raise BundleError(f"{source}: checksum mismatch in {', '.join(bad)}; the bundle is "
                          f"damaged or was edited: {REBUILD}")
    meta = blob["meta"]
    if meta.get("vocab_sha256") != sums["vocab"]:
        raise BundleError(f"{source}: the vocabulary is not the one the model was trained with "
                          f"(sha256 {sums['vocab'][:12]}, trained with "
                          f"{str(meta.get('vocab_sha256'))[:12]}); {REBUILD} from the run's "
                          "own text artifacts")
    try:
        validate_config({k: blob[k] for k in SETTINGS}, source, only=SETTINGS)
        vocab = Vocabulary.from_json(json.loads(blob["vocab"]), source)
    except MaacError as err:
        raise BundleError(f"{str(err).split('; rebuild')[0]}; {REBUILD}") from err
    except ValueError as err:
        raise BundleError(f"{source}: the vocabulary is not JSON ({err}); {REBUILD}") from err
    if blob["audio"]["n_mels"] != meta.get("n_mels"):
        raise BundleError(f"{source}: the front end makes {blob['audio']['n_mels']} mel bands "
                          f"but the model takes {meta.get('n_mels')}; {REBUILD}")
    if meta.get("vocab_size") != len(vocab) or meta.get("num_keywords") != len(blob["keywords"]):
        raise BundleError(
            f"{source}: the model has {meta.get('vocab_size')} words and "
            f"{meta.get('num_keywords')} keywords but the bundle's vocabulary has {len(vocab)} "
            f"and its keyword list {len(blob['keywords'])}; {REBUILD} from the model's own "
            "text artifacts"
        )
    ids = [vocab.word_to_id.get(w, -1) for w in blob["keywords"]]
    model_ids = blob["state_dict"].get("decoder.keyword_ids")
    if model_ids is None or ids != model_ids.tolist():
        raise BundleError(f"{source}: the keyword list does not match the model's keyword ids; "
                          f"{REBUILD} from the model's own text artifacts")
    return Bundle(None, vocab, list(blob["keywords"]), dict(blob["audio"]),  # type: ignore[arg-type]
                  dict(blob["decoding"]), meta)


def read_bundle(path: Path | str) -> Bundle:
    """Load and verify a bundle (``weights_only=True``); the model is in eval mode on the CPU."""
    path = Path(path)
    blob = load_torch_file(path, "maac model bundle", BundleError, REBUILD)
    bundle = _check(blob, str(path))
    try:
        bundle.model = captioner_from_state(blob["state_dict"], blob["meta"], str(path),
                                            len(bundle.vocab), len(bundle.keywords))
    except MaacError as err:
        raise BundleError(f"{str(err).split('; ')[0]}; {REBUILD}") from err
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{path}: the model's metadata is damaged ({err!r}); {REBUILD}") from err
    bundle.model.eval()
    return bundle
