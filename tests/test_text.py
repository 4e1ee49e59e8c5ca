"""Text layer: normalisation, vocabulary, keywords, labels, NLTK data, `maac text`, real Clotho."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import nltk
import numpy as np
import pytest

from maac.cli import text_commands
from maac.data.manifest import Clip, build_manifest, read_captions, write_manifest
from maac.data.synth import SHARED_NAME, SPLITS, synthesize
from maac.errors import MaacError
from maac.text.build import TextFiles, build_text, read_labels
from maac.text.keywords import (
    VERB,
    KeywordError,
    KeywordExtractor,
    KeywordTable,
    extract_keywords,
)
from maac.text.nltk_resources import RESOURCES, NltkDataError, ensure_nltk
from maac.text.normalize import normalize, words
from maac.text.vocabulary import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    Vocabulary,
    VocabularyError,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
CLOTHO = SHARED / "data" / "clotho_v2.1"
CLOTHO_CAPTIONS = CLOTHO / "captions"
OUTPUTS = ["vocab.json", "keywords.csv", "summary.json"] + [
    f"{kind}_{split}.{ext}" for split in SPLITS for kind, ext in (("captions", "jsonl"),
                                                                  ("labels", "npz"))
]
STOPWORDS = ["be", "make", "go", "others", "something", "someone", "thing", "sound", "lot"]


@pytest.fixture(scope="module", autouse=True)
def nltk_data() -> Iterator[None]:
    """Use the shared offline NLTK folder when NLTK_DATA is not set."""
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get("NLTK_DATA") and (SHARED / "nltk_data").is_dir():
            mp.setenv("NLTK_DATA", str(SHARED / "nltk_data"))
        yield


@pytest.fixture(scope="module")
def nltk_ready(nltk_data: None) -> None:
    try:
        ensure_nltk()
    except NltkDataError as err:
        pytest.skip(f"NLTK data unavailable: {err}")


@pytest.fixture
def extractor(nltk_ready: None) -> KeywordExtractor:
    """A fresh (unfitted) extractor: ``extract_keywords`` fits the one it is given."""
    return KeywordExtractor(min_length=3, stopwords=STOPWORDS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maac")
    text_commands.register(parser.add_subparsers(dest="command", required=True),
                           REPO / "config" / "config.yaml")
    return parser


def run_cli(*argv: str | Path) -> None:
    args = _parser().parse_args([str(a) for a in argv])
    args.handler(args)


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("A dog barks, loudly!", "a dog barks loudly"),
        ("  Rain;then   WIND.  ", "rain then wind"),
        ("The dog's bark", "the dogs bark"),  # apostrophes inside words are deleted
        ("Don\u2019t stop: it's 5 o'clock", "dont stop its 5 oclock"),
        ("a t-shirt / a jacket_zip", "a t shirt a jacket zip"),
        ("Caf\u00e9 NOISE...", "caf\u00e9 noise"),
        ("?!", ""),
    ],
)
def test_normalize(caption: str, expected: str) -> None:
    assert normalize(caption) == expected
    assert words(caption) == expected.split()


# --- vocabulary ----------------------------------------------------------------------------

TRAIN = ["A dog barks.", "The dog runs, a cat sleeps", "a bird sings"]


def test_vocabulary_specials_are_fixed_and_ids_deterministic(tmp_path: Path) -> None:
    vocab = Vocabulary.build(TRAIN)
    assert SPECIALS == {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3}
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    # most frequent first (a: 3, dog: 2), then alphabetical among equal counts
    assert list(vocab.word_to_id) == ["a", "dog", "barks", "bird", "cat", "runs", "sings",
                                      "sleeps", "the"]
    assert vocab.word_to_id["a"] == 4 and vocab.word_to_id["the"] == 12
    assert len(vocab) == 4 + 9
    assert vocab.id_to_word[:5] == ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
    # the same words in another order give the same ids
    assert Vocabulary.build(list(reversed(TRAIN))).word_to_id == vocab.word_to_id

    vocab.save(tmp_path / "vocab.json")
    data = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert data["specials"] == {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3}
    assert data["counts"]["a"] == 3 and data["words"]["dog"] == 5
    assert Vocabulary.load(tmp_path / "vocab.json") == vocab


def test_vocabulary_encode_decode_and_unknown_words() -> None:
    vocab = Vocabulary.build(TRAIN)
    ids = vocab.encode("The DOG barks!")
    assert ids[0] == BOS_ID and ids[-1] == EOS_ID and UNK_ID not in ids
    assert vocab.decode(ids) == "the dog barks"
    assert vocab.decode([*ids, PAD_ID, PAD_ID]) == "the dog barks"
    unseen = vocab.encode("a zebra sings")  # validation-only word
    assert unseen == [BOS_ID, 4, UNK_ID, vocab.word_to_id["sings"], EOS_ID]
    assert vocab.decode(unseen) == "a <unk> sings"
    assert "zebra" not in vocab
    with pytest.raises(VocabularyError, match="outside the vocabulary"):
        vocab.decode([BOS_ID, 99])


def test_vocabulary_min_count_and_bad_files(tmp_path: Path) -> None:
    vocab = Vocabulary.build(TRAIN, min_count=2)
    assert list(vocab.word_to_id) == ["a", "dog"]
    assert vocab.encode("a cat") == [BOS_ID, 4, UNK_ID, EOS_ID]
    path = tmp_path / "vocab.json"
    data = vocab.to_json()
    data["specials"] = {"<bos>": 0, "<pad>": 1, "<eos>": 2, "<unk>": 3}  # insertion-order ids
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(VocabularyError, match="special tokens"):
        Vocabulary.load(path)
    with pytest.raises(VocabularyError, match="not found"):
        Vocabulary.load(tmp_path / "missing.json")


# --- keywords ------------------------------------------------------------------------------


def test_keyword_candidates_nouns_as_written_verbs_lemmatised(
    extractor: KeywordExtractor,
) -> None:
    got = extractor.candidates("A dog is barking while cars are passing by.")
    # "is"/"are" -> "be" dropped; "cars" kept as written; verbs in their base form
    assert got == (("dog", "noun"), ("bark", "verb"), ("cars", "noun"), ("pass", "verb"))
    # The tagger reads "barks" here as a plural noun; "a dog" (singular) makes it a verb.
    assert extractor.candidates("A dog barks while cars are passing by") == got
    assert ("drive", "verb") in extractor.candidates("A car drives past")


def test_keyword_length_and_stopwords(nltk_ready: None) -> None:
    caption = "A man and an ox go to the tv and make a dog bark"
    default = KeywordExtractor(min_length=3, stopwords=STOPWORDS)
    found = {w for w, _ in default.candidates(caption)}
    assert {"man", "dog"} <= found
    assert not found & {"ox", "tv", "go", "make", "be"}  # 2 letters or a stopword
    longer = KeywordExtractor(min_length=4, stopwords=[])
    assert {w for w, _ in longer.candidates(caption)} & {"man", "dog"} == set()
    assert ("make", "verb") in longer.candidates(caption)  # no stopwords given
    # stopwords match the base form; "be" is always dropped
    no_bark = KeywordExtractor(min_length=3, stopwords=["bark"])
    found = {w for w, _ in no_bark.candidates("a dog is barking")}
    assert found == {"dog"}
    keep_short = KeywordExtractor(min_length=1, stopwords=[])
    assert keep_short.candidates("a dog is barking") == (("dog", "noun"), ("bark", "verb"))


def test_verb_base_form_prefers_training_words(nltk_ready: None) -> None:
    plain = KeywordExtractor(min_length=3)
    assert plain.base_form("scraping") == "scrap"  # WordNet's shortest candidate
    counts = {"scrape": 5, "dragging": 2, "passing": 1, "pass": 1}
    aware = KeywordExtractor(min_length=3, word_counts=counts)
    assert aware.base_form("scraping") == "scrape"  # the candidate the captions contain
    assert aware.base_form("dragging") == "dragging"  # "drag" never occurs: as written
    assert aware.base_form("passing") == "pass"


# Noun-tagged verb forms: what the tagger says here is part of each test's premise.
VERB_FORM_TRAIN = [
    "water drips onto the floor",  # "drips" tagged NNS; a bare subject: a weak verb cue
    "water drips and splashes",
    "a faucet drips into a sink",  # tagged VBZ
    "wind chimes are ringing",  # "chimes" tagged NNS before a plural verb: a noun
    "the chimes ring softly",
    "wind chimes tinkle in the breeze",
    "a clock chimes",  # "a clock" is singular: a verb
    "birds are singing",
    "the birds chirp",
    "loud chirping of birds",  # a gerund tagged NN that WordNet has no noun for
    "a tall building",  # a gerund that WordNet has as a noun and the tagger reads as one
    "bees buzz",  # "bees" is no form of "be"
]


def test_noun_tagged_verb_forms(nltk_ready: None) -> None:
    ex = KeywordExtractor(min_length=3)
    assert ex.tagged("water drips into a bucket")[1] == ("drips", "NNS")
    # Unfitted, only agreement in number and WordNet decide.
    assert ("drips", "noun") in ex.candidates("water drips into a bucket")
    assert ex.candidates("a bell chimes") == (("bell", "noun"), ("chime", "verb"))
    assert ex.candidates("loud chirping of birds") == (("chirp", "verb"), ("birds", "noun"))
    assert ex.candidates("a tall building") == (("building", "noun"),)
    assert ex.candidates("bees buzz")[0] == ("bees", "noun")
    # Fitted, the training captions' majority decides where the context does not.
    assert ex.fit(VERB_FORM_TRAIN) is ex and ex.verb_forms == {"drips"}
    assert ("drip", "verb") in ex.candidates("water drips into a bucket")
    assert ("chimes", "noun") in ex.candidates("wind chimes in the garden")
    assert ex.candidates("a bell chimes") == (("bell", "noun"), ("chime", "verb"))
    assert ex.candidates("birds") == (("birds", "noun"),)
    assert ("cars", "noun") in ex.candidates("a car passes as cars honk")
    # Refitting replaces the decision (nothing is left from the previous captions).
    assert ex.fit(["the drips of water"]).verb_forms == frozenset()
    assert ("drips", "noun") in ex.candidates("water drips into a bucket")


def test_verb_forms_merge_into_the_base_form_deterministically(
    nltk_ready: None, tmp_path: Path
) -> None:
    # (base forms must be training words: "drip", "chime", "bark" occur on their own too)
    captions = [*VERB_FORM_TRAIN, "a slow drip", "a bell chimes", "a single chime", "dogs bark",
                "a dog barks", "a dog barks loudly", "a dog is barking", "the loud barks of a dog"]
    vocab = Vocabulary.build(captions)
    table = extract_keywords(captions, 50, KeywordExtractor(3, [], vocab.counts))
    counts = {k.word: (k.kind, k.count) for k in table.keywords}
    assert counts["drip"] == ("verb", 4) and "drips" not in counts
    assert counts["bark"] == ("verb", 4) and counts["barks"] == ("noun", 1)  # "loud barks"
    assert counts["chime"] == ("verb", 3) and counts["chimes"] == ("noun", 3)  # wind chimes
    assert counts["chirp"][1] == 2 and "chirping" not in counts
    assert counts["birds"] == ("noun", 3) and counts["building"] == ("noun", 1)
    assert counts["bees"] == ("noun", 1)
    table.check_vocabulary(vocab)
    # the same captions in another order: the same table, byte for byte
    shuffled = list(reversed(captions))
    shuffled_counts = Vocabulary.build(shuffled).counts
    again = extract_keywords(shuffled, 50, KeywordExtractor(3, [], shuffled_counts))
    table.save(tmp_path / "a.csv")
    again.save(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_keyword_table_ranking_tie_break_and_kind(extractor: KeywordExtractor) -> None:
    # (The tagger reads short "a train passes" fragments as nouns: progressive forms are safer.)
    captions = [
        "birds are singing", "a train is passing", "a car is passing", "a dog is barking",
        "rain is falling on a car", "Birds sing",
    ]
    table = extract_keywords(captions, 5, extractor)
    assert [(k.word, k.count) for k in table.keywords] == [
        ("birds", 2), ("car", 2), ("pass", 2), ("sing", 2), ("bark", 1),
    ]  # ties: alphabetical
    kinds = {k.word: k.kind for k in table.keywords}
    assert kinds == {"birds": "noun", "car": "noun", "pass": "verb", "sing": "verb",
                     "bark": "verb"}
    assert extract_keywords(list(reversed(captions)), 5, extractor) == table
    # a word tagged both ways takes its more frequent tag (noun on a tie)
    mixed = extract_keywords(["a dog is barking", "a dog barks loudly", "Dogs bark"], 5, extractor)
    assert {k.word: (k.kind, k.count) for k in mixed.keywords}["bark"] == ("verb", 3)
    tie = extract_keywords(["Heavy rain", "It rains"], 5, extractor)
    assert [(k.word, k.kind, k.count) for k in tie.keywords] == [("rain", "noun", 2)]


def test_multi_hot_labels_are_the_union_over_captions(extractor: KeywordExtractor) -> None:
    train = ["a dog is barking", "rain is falling on a car", "a car is driving"]
    table = extract_keywords(train, 10, extractor)
    assert table.words == ["car", "bark", "dog", "drive", "fall", "rain"]
    clips = [
        ("a man is driving a car in the rain", "a dog", "nothing here"),
        ("silence", "quiet", "calm"),
    ]
    labels = table.labels(clips, extractor)
    assert labels.dtype == np.uint8 and labels.shape == (2, len(table))
    expected = {"car", "drive", "rain", "dog"}
    assert {w for w, on in zip(table.words, labels[0], strict=True) if on} == expected
    assert labels[1].sum() == 0


def test_keyword_not_in_vocabulary_fails_loudly(
    extractor: KeywordExtractor, tmp_path: Path
) -> None:
    captions = ["a dog is barking", "a dog is barking loudly"]
    table = extract_keywords(captions, 10, extractor)  # plain WordNet: "bark" is not a word here
    vocab = Vocabulary.build(captions)
    with pytest.raises(KeywordError, match="'bark'") as info:
        table.check_vocabulary(vocab)
    assert isinstance(info.value, MaacError) and "\n" not in str(info.value)
    aware = KeywordExtractor(3, STOPWORDS, vocab.counts)
    aware_table = extract_keywords(captions, 10, aware)
    aware_table.check_vocabulary(vocab)  # base forms chosen from the vocabulary
    assert aware_table.words == ["barking", "dog"]

    table.save(tmp_path / "keywords.csv")
    assert (tmp_path / "keywords.csv").read_text().splitlines()[:2] == [
        "rank,word,kind,count", "1,bark,verb,2"]
    assert KeywordTable.load(tmp_path / "keywords.csv") == table


# --- NLTK data -----------------------------------------------------------------------------


def test_missing_nltk_resource_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(nltk.data, "path", [str(empty)])
    monkeypatch.setenv("NLTK_DATA", str(empty))
    calls: list[tuple[str, str]] = []

    def fake_download(name: str, download_dir: str, quiet: bool, **kwargs: object) -> bool:
        calls.append((name, download_dir))
        print("[nltk_data] Error loading x: <urlopen error\n[nltk_data]   offline>",
              file=kwargs["print_error_to"])
        return False

    monkeypatch.setattr(nltk, "download", fake_download)
    with pytest.raises(NltkDataError) as info:
        ensure_nltk(tmp_path / "dl")
    message = str(info.value)
    first = next(iter(RESOURCES))
    assert "\n" not in message and "(Error loading x: <urlopen error offline>)" in message
    assert repr(first) in message and "NLTK_DATA" in message and str(tmp_path / "dl") in message
    assert calls == [(first, str(tmp_path / "dl"))]
    assert str(tmp_path / "dl") in nltk.data.path


def test_nltk_data_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = os.environ.get("NLTK_DATA")
    if not folder:
        pytest.skip("NLTK_DATA is not set")
    monkeypatch.setattr(nltk.data, "path", [])

    def no_download(*args: object, **kwargs: object) -> bool:
        raise AssertionError("nothing should be downloaded")

    monkeypatch.setattr(nltk, "download", no_download)
    ensure_nltk(tmp_path / "dl")
    assert folder in nltk.data.path


# --- maac text build -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    raw = root / "raw"
    synthesize(raw, {"development": 8, "validation": 4, "evaluation": 4}, seconds=1.0, seed=0,
               progress=False)
    manifests = {}
    for split in SPLITS:
        manifests[split] = root / "manifest" / f"{split}.csv"
        clips = build_manifest(split, raw / f"clotho_captions_{split}.csv", raw / split)
        write_manifest(clips, manifests[split])
    return manifests


def _text_files(out: Path, splits: list[str]) -> TextFiles:
    """The files of `maac text build` in one folder, named as the workflow names them."""
    return TextFiles(out / "vocab.json", out / "keywords.csv", out / "summary.json",
                     [out / f"captions_{s}.jsonl" for s in splits],
                     [out / f"labels_{s}.npz" for s in splits])


def _text_flags(files: TextFiles) -> list[Path | str]:
    return ["--vocab", files.vocab, "--keywords", files.keywords, "--summary", files.summary,
            "--captions", *files.captions, "--labels", *files.labels]


def test_text_build_settings_route_equals_the_flags(
    synth_manifests: dict[str, Path], tmp_path: Path, nltk_ready: None,
) -> None:
    """The rule's --settings (the config's text section as JSON) writes the bytes the
    equivalent flags write."""
    outs = {}
    keywords = {"count": 40, "min_length": 3, "stopwords": STOPWORDS}
    for route, options in (
        ("flags", ["--count", "40", "--min-length", "3", "--stopwords", ",".join(STOPWORDS)]),
        ("settings", ["--settings", json.dumps({"text": {"keywords": keywords}})]),
    ):
        out = tmp_path / route
        files = _text_files(out, list(synth_manifests))
        run_cli("text", "build", "--train", synth_manifests["development"], "--manifests",
                *synth_manifests.values(), *_text_flags(files), *options)
        outs[route] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert outs["flags"] == outs["settings"] and len(outs["flags"]) == len(OUTPUTS)


def test_text_build_writes_every_output(
    synth_manifests: dict[str, Path], tmp_path: Path, nltk_ready: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "text" / "tiny"
    run_cli("text", "build", "--train", synth_manifests["development"], "--manifests",
            *synth_manifests.values(), *_text_flags(_text_files(out, list(synth_manifests))),
            "--count", "40", "--min-length", "3",
            "--stopwords", ",".join(STOPWORDS))
    assert "keywords" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no temporary files left

    vocab = Vocabulary.load(out / "vocab.json")
    table = KeywordTable.load(out / "keywords.csv")
    table.check_vocabulary(vocab)
    assert 0 < len(table) <= 40
    assert not set(table.words) & set(STOPWORDS)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["vocab_size"] == len(vocab) and summary["keyword_count"] == len(table)
    assert summary["train_split"] == "development"
    from maac.data.manifest import read_manifest

    for split, path in synth_manifests.items():
        clips = list(read_manifest(path).values())
        lines = (out / f"captions_{split}.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert [(r["split"], r["file_name"]) for r in records] == [c.key for c in clips]
        for record, clip in zip(records, clips, strict=True):
            assert len(record["tokens"]) == 5
            for ids, caption in zip(record["tokens"], clip.captions, strict=True):
                assert ids[0] == BOS_ID and ids[-1] == EOS_ID
                if split == "development":  # every training word is in the vocabulary
                    assert vocab.decode(ids) == normalize(caption)
        names, labels = read_labels(out / f"labels_{split}.npz")
        assert names == [c.file_name for c in clips]
        assert labels.dtype == np.uint8 and labels.shape == (len(clips), len(table))
        mean = summary["splits"][split]["mean_positives"]
        assert mean == pytest.approx(labels.sum(axis=1).mean(), abs=1e-4)
    assert SHARED_NAME in read_labels(out / "labels_development.npz")[0]
    assert SHARED_NAME in read_labels(out / "labels_evaluation.npz")[0]


def _manifest(path: Path, split: str, captions: list[tuple[str, ...]]) -> Path:
    clips = [Clip(split, f"{split}_{i}.wav", Path(f"{i}.wav"), c) for i, c in enumerate(captions)]
    write_manifest(clips, path)
    return path


def test_text_build_uses_the_training_split_only(tmp_path: Path, nltk_ready: None) -> None:
    train = _manifest(tmp_path / "train.csv", "development", [
        ("A dog is barking.", "A dog is barking", "Dogs bark", "A dog barks loudly", "Barking dog"),
        ("Rain falls.", "Heavy rain", "Rain on a roof", "It rains", "Rain and wind"),
    ])
    val = _manifest(tmp_path / "val.csv", "validation", [
        ("A zebra runs", "A dog barks", "Zebra", "Zebras run", "A running zebra"),
    ])
    out = tmp_path / "out"
    summary = build_text(train, [train, val], _text_files(out, ["development", "validation"]),
                         count=300, min_length=3, stopwords=[])
    vocab = Vocabulary.load(out / "vocab.json")
    table = KeywordTable.load(out / "keywords.csv")
    assert "zebra" not in vocab and "zebra" not in table.words
    assert {"dog", "rain", "bark"} <= set(table.words)
    record = json.loads((out / "captions_validation.jsonl").read_text().splitlines()[0])
    assert record["tokens"][0] == [BOS_ID, vocab.word_to_id["a"], UNK_ID, UNK_ID, EOS_ID]
    assert summary["splits"]["validation"]["unknown_word_rate"] > 0
    assert summary["splits"]["development"]["unknown_word_rate"] == 0
    names, labels = read_labels(out / "labels_validation.npz")
    assert names == ["validation_0.wav"]
    assert labels[0, table.words.index("dog")] == 1

    # a keyword that the vocabulary (min_count 2) lacks fails before anything is written
    fresh = tmp_path / "fresh"
    with pytest.raises(KeywordError, match="not in the vocabulary"):
        build_text(train, [val], _text_files(fresh, ["validation"]), count=300, min_length=3,
                   stopwords=[], min_count=2)
    assert not fresh.exists()
    with pytest.raises(MaacError, match="no clips in .*empty.csv"):
        build_text(_manifest(tmp_path / "empty.csv", "development", []), [],
                   _text_files(fresh, []), 5, 3, [])


def test_cli_vocab_and_keywords(tmp_path: Path, nltk_ready: None,
                                capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "clotho_captions_development.csv"
    csv_path.write_text(
        "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
        "a.wav,A dog barks.,A dog is barking,Dogs bark,Birds sing,Rain falls\n",
        encoding="utf-8",
    )
    run_cli("text", "vocab", csv_path)
    assert capsys.readouterr().out.startswith(f"{4 + 11} tokens")
    run_cli("text", "keywords", csv_path, "--count", "2", "--min-length", "3",
            "--stopwords", "rain")
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines()[:2]] == [["1", "bark"], ["2", "dog"]]
    assert "rain" not in out and "2 keywords" in out
    run_cli("text", "keywords", csv_path, "--count", "2", "--min-length", "3",
            "--stopwords", "rain", "--markdown")
    assert capsys.readouterr().out.splitlines() == [
        "| rank | keyword | kind | count |", "| ---: | --- | --- | ---: |",
        "| 1 | bark | verb | 3 |", "| 2 | dog | noun | 2 |"]


# --- real Clotho captions ------------------------------------------------------------------

needs_clotho = pytest.mark.skipif(
    not CLOTHO_CAPTIONS.is_dir(), reason=f"real Clotho captions not present at {CLOTHO_CAPTIONS}"
)


def _clotho(split: str) -> list[tuple[str, tuple[str, ...]]]:
    return read_captions(CLOTHO_CAPTIONS / f"clotho_captions_{split}.csv")


class ClothoText(NamedTuple):
    vocab: Vocabulary
    table: KeywordTable
    labels: np.ndarray
    extractor: KeywordExtractor
    captions: list[str]


@pytest.fixture(scope="module")
def clotho_text(nltk_ready: None) -> ClothoText:
    """Vocabulary, the paper's keyword table and development labels (built once: ~20 s)."""
    rows = _clotho("development")
    captions = [c for _, caps in rows for c in caps]
    vocab = Vocabulary.build(captions)
    extractor = KeywordExtractor(3, STOPWORDS, vocab.counts)
    table = extract_keywords(captions, 300, extractor)
    labels = table.labels((caps for _, caps in rows), extractor)
    return ClothoText(vocab, table, labels, extractor, captions)


@needs_clotho
def test_clotho_vocabulary(clotho_text: ClothoText) -> None:
    vocab = clotho_text.vocab
    print(f"\nClotho development vocabulary: {len(vocab)} tokens incl. specials (paper: 4368)")
    assert 4366 <= len(vocab) <= 4372
    for split in ("validation", "evaluation"):
        unseen = {w for _, caps in _clotho(split) for c in caps for w in words(c)} - set(
            vocab.word_to_id)
        assert not unseen, f"{split} words missing from the vocabulary: {sorted(unseen)[:10]}"


@needs_clotho
def test_clotho_keywords(clotho_text: ClothoText) -> None:
    vocab, table, labels = clotho_text.vocab, clotho_text.table, clotho_text.labels
    print("\nClotho top 20 keywords:", ", ".join(
        f"{k.word} ({k.kind} {k.count})" for k in table.keywords[:20]))
    assert len(table) == 300
    table.check_vocabulary(vocab)
    assert {"bird", "water", "car", "rain"} <= set(table.words[:30])
    assert "be" not in table.words and all(len(w) >= 3 for w in table.words)
    mean = labels.sum(axis=1).mean()
    print(f"mean positives per development clip: {mean:.2f}")
    assert labels.shape == (3839, 300)
    assert 5 <= mean <= 15


FIG2_KEYWORDS = ["chirp", "bird", "door", "close", "open", "creak", "car", "drive", "vehicle",
                 "pass"]  # the paper's Fig. 2, in its order, less its eleventh: "chair"
# The inflected verb forms that the table held before noun-tagged verb forms were read as verbs.
OLD_VERB_FORMS = ["barks", "beeps", "blowing", "blows", "buzzing", "chirping", "chirps", "drips",
                  "drives", "flows", "hums", "occurs", "passes", "plays", "pours", "runs",
                  "splashes", "stops", "talks"]
# Plural nouns spelled like a verb form whose base is a verb keyword ("leaf", "wind chimes").
NOUN_HOMOGRAPHS = {"leaves", "chimes"}
PLURAL_NOUNS = ["cars", "birds", "people", "footsteps", "vehicles", "waves", "voices", "bells",
                "crickets", "children", "objects", "noises", "times", "dogs"]


@needs_clotho
def test_clotho_keyword_verbs_in_base_form(clotho_text: ClothoText) -> None:
    table, extractor = clotho_text.table, clotho_text.extractor
    kinds = {k.word: k.kind for k in table.keywords}
    assert set(FIG2_KEYWORDS) <= set(kinds)
    fig2_verbs = ["chirp", "close", "open", "creak", "drive", "pass"]
    assert {w: kinds[w] for w in fig2_verbs} == dict.fromkeys(fig2_verbs, VERB)
    assert not set(OLD_VERB_FORMS) & set(kinds)
    assert {extractor.base_form(w) for w in OLD_VERB_FORMS} <= set(kinds)
    # No keyword is an "-s"/"-ing" form of a verb that is itself a keyword, but plural nouns.
    doubled = {w for w in kinds if w.endswith(("s", "ing")) and extractor.base_form(w) != w
               and kinds.get(extractor.base_form(w)) == VERB}
    assert doubled <= NOUN_HOMOGRAPHS and all(kinds[w] == "noun" for w in doubled)
    # Plural nouns stay as written, beside their singular where that is a keyword too.
    assert {w: kinds.get(w) for w in PLURAL_NOUNS} == dict.fromkeys(PLURAL_NOUNS, "noun")
    assert kinds["bird"] == kinds["car"] == kinds["vehicle"] == "noun"
    # Fig. 2's eleventh keyword, "chair", stays below the cut (occurrences; see docs/keywords.md).
    totals = Counter(w for c in clotho_text.captions for w, _ in extractor.candidates(c))
    ranking = sorted(totals, key=lambda w: (-totals[w], w))
    assert ranking[:300] == table.words
    chair = ranking.index("chair") + 1
    print(f"\nchair: rank {chair}, {totals['chair']} occurrences "
          f"(rank 300: {totals[ranking[299]]})")
    assert chair > 300


@needs_clotho
def test_docs_keyword_table_is_current(clotho_text: ClothoText) -> None:
    doc = (REPO / "docs" / "keywords.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (\S+) \| (noun|verb) \| (\d+) \|$", doc, flags=re.M)
    assert [(int(r), w, k, int(n)) for r, w, k, n in rows] == [
        (rank, k.word, k.kind, k.count) for rank, k in enumerate(clotho_text.table.keywords, 1)
    ], "docs/keywords.md is stale: regenerate it with `maac text keywords CSV --markdown`"


def test_text_build_wants_one_captions_and_labels_file_per_manifest(tmp_path: Path,
                                                                   nltk_ready: None) -> None:
    train = _manifest(tmp_path / "train.csv", "development", [
        ("A dog is barking.", "A dog is barking", "Dogs bark", "A dog barks loudly", "Barking dog"),
    ])
    out = tmp_path / "out"
    files = _text_files(out, ["development"])
    short = TextFiles(files.vocab, files.keywords, files.summary, files.captions, [])
    with pytest.raises(MaacError, match="--labels: 0 files for 1 --manifests"):
        build_text(train, [train], short, count=10, min_length=3, stopwords=[])
    assert not out.exists()
