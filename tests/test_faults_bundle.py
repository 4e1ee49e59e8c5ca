"""Bad and tampered model bundles, through the real `maac bundle` and `maac caption` commands.

Every case asserts the exit code, the one `maac: error:` line naming the file and what to do
(rebuild with maac bundle), no traceback and no torch text suggesting an unsafe load, and that
nothing outside the command's own output changed (issue 17).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from maac.inference.bundle import _sums
from tests.faults import assert_one_line_error, run_maac, tree_digest
from tests.test_inference import CONFIG, parts  # noqa: F401  (the module's tiny trained bundle)

REBUILD = "rebuild with maac bundle"


def _swapped_vocab(vocab: bytes) -> bytes:
    """vocab.json with two words' ids swapped: same size, same keyword ids."""
    data = json.loads(vocab)
    words = data["words"]
    words["while"], words["then"] = words["then"], words["while"]
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()


@pytest.fixture
def work(tmp_path: Path, parts: dict[str, Path]) -> Path:  # noqa: F811
    for name in ("best.pt", "vocab.json", "keywords.csv", "model.bundle", "mono44.wav"):
        shutil.copy(parts["root"] / name, tmp_path / name)
    return tmp_path


def test_bundling_a_vocabulary_with_two_words_swapped_is_refused(work: Path) -> None:
    """Data loss (issue 17): such a bundle was accepted and its captions changed silently."""
    (work / "swapped.json").write_bytes(_swapped_vocab((work / "vocab.json").read_bytes()))
    before = tree_digest(work)
    settings = json.dumps({"audio": CONFIG["audio"], "decoding": CONFIG["decoding"]})
    outcome = run_maac(["bundle", "--checkpoint", "best.pt", "--vocab", "swapped.json",
                        "--keywords", "keywords.csv", "--settings", settings, "--out",
                        "new.bundle"], cwd=work)
    assert_one_line_error(outcome, "swapped.json", "not the vocabulary best.pt was trained with",
                          "its run's own text artifacts")
    assert tree_digest(work) == before  # no new.bundle, no temp file


def _edited(work: Path, edit: Callable[[dict[str, Any]], None], resum: bool) -> Path:
    blob = torch.load(work / "model.bundle", weights_only=True)
    edit(blob)
    if resum:  # as a bundle built from the edited parts would have them
        blob["sha256"] = _sums(blob)
    torch.save(blob, work / "edited.bundle")
    return work / "edited.bundle"


def _old_format(blob: dict[str, Any]) -> None:
    blob["format"] = "maac-bundle/1"
    blob["vocab"] = json.loads(blob["vocab"])


def _set(part: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda blob: blob[part].__setitem__(key, value)


EDITS = {
    # data loss (issue 17): the vocabulary swapped, the bundle's own sums consistent with it
    "vocab swapped": (lambda b: b.__setitem__("vocab", _swapped_vocab(b["vocab"])), True,
                      ["the vocabulary is not the one the model was trained with"]),
    "vocab swapped, sums kept": (lambda b: b.__setitem__("vocab", _swapped_vocab(b["vocab"])),
                                 False, ["checksum mismatch in vocab"]),
    "front end edited": (_set("audio", "hop_length", 160), False, ["checksum mismatch in audio"]),
    "decoding edited": (_set("decoding", "beam_size", 1), False,
                        ["checksum mismatch in decoding"]),
    "metadata edited": (lambda b: b["meta"]["captioner"].__setitem__("top_keywords", 2), False,
                        ["checksum mismatch in meta"]),
    "beam size 0": (_set("decoding", "beam_size", 0), True,
                    ["key 'decoding.beam_size': 0 is less than the minimum of 1"]),
    "unknown setting": (_set("decoding", "temperature", 2.0), True, ["'decoding.temperature'"]),
    "other mel bands": (_set("audio", "n_mels", 32), True,
                        ["the front end makes 32 mel bands but the model takes 64"]),
    "part missing": (lambda b: b.pop("decoding"), False, ["damaged (missing decoding)"]),
    "part malformed": (lambda b: b.__setitem__("keywords", "bell"), False,
                       ["damaged (malformed keywords)"]),
    "older format": (_old_format, False, ["older format (maac-bundle/1)"]),
    "not a bundle": (lambda b: b.__setitem__("format", "something"), False,
                     ["not a maac model bundle (format 'something'"]),
}


def _caption(work: Path, bundle: str):
    before = tree_digest(work)
    outcome = run_maac(["caption", "mono44.wav", "--model", bundle], cwd=work)
    assert tree_digest(work) == before
    assert "weights_only" not in outcome.stderr and "caption:" not in outcome.stdout
    return outcome


@pytest.mark.parametrize("case", list(EDITS))
def test_an_edited_or_mismatched_bundle_is_refused(work: Path, case: str) -> None:
    edit, resum, says = EDITS[case]
    _edited(work, edit, resum)
    assert_one_line_error(_caption(work, "edited.bundle"), "edited.bundle", *says, REBUILD)


class _Payload:
    """Pickles as a call of Path.touch: a load that ran it would create the file."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self) -> tuple:
        return (pathlib.Path.touch, (self.path,))


def _damaged(work: Path) -> None:
    whole = (work / "model.bundle").read_bytes()
    (work / "x.bundle").write_bytes(whole[: len(whole) // 2])


def _pickle(work: Path) -> None:
    torch.save({"format": "maac-bundle/2", "x": _Payload(work / "ran")}, work / "x.bundle")


@pytest.mark.parametrize(("make", "says"), [
    (_damaged, "not a maac model bundle or damaged"),
    (_pickle, "not a maac model bundle or damaged"),
    (lambda work: (work / "x.bundle").write_bytes(b""), "the maac model bundle is empty"),
    (lambda work: None, "maac model bundle not found"),
])
def test_unreadable_bundles_are_one_line(work: Path, make: Callable[[Path], None],
                                         says: str) -> None:
    make(work)
    outcome = _caption(work, "x.bundle")
    line = assert_one_line_error(outcome, "x.bundle", says)
    assert "()" not in line and "PyTorch" not in outcome.stderr
    if "not found" not in says:
        assert REBUILD in line
    assert not (work / "ran").exists()  # the refused pickle ran nothing
