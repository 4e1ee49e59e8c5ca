"""maac.data.manifest on synthetic layouts and on the real Clotho reference data (../shared)."""

from __future__ import annotations

import csv
import html
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from maac.cli.main import main
from maac.data.manifest import (
    CAPTION_COLUMNS,
    MANIFEST_COLUMNS,
    Clip,
    ManifestError,
    build_manifest,
    read_captions,
    read_manifest,
    write_manifest,
)

# The repository's sibling folder: /work/main -> /work/shared, wherever the clone lives.
SHARED = Path(__file__).resolve().parents[2] / "shared"
CLOTHO = SHARED / "data" / "clotho_v2.1"
SPLITS = ("development", "validation", "evaluation")
OFFICIAL_ROWS = {"development": 3839, "validation": 1045, "evaluation": 1045}

needs_clotho = pytest.mark.skipif(
    not (CLOTHO / "captions").is_dir() or not (CLOTHO / "audio_samples").is_dir(),
    reason=f"real Clotho reference data not present at {CLOTHO} (expected ../shared beside "
    "the repository)",
)


def write_wav(path: Path, samples: int = 160) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(samples, dtype=np.float32), 16000, subtype="PCM_16")
    return path


def caps(tag: str) -> tuple[str, ...]:
    return tuple(f"{tag} caption {i}" for i in range(1, 6))


def write_captions(
    path: Path, rows: list[tuple[str, tuple[str, ...]]], header: list[str] | None = None
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header or ["file_name", *CAPTION_COLUMNS])
        for name, captions in rows:
            writer.writerow([name, *captions])
    return path


# --- read_captions --------------------------------------------------------------------------


def test_read_captions_rows_in_order(tmp_path: Path) -> None:
    rows = [("b.wav", caps("b")), ("a.wav", caps("a"))]
    path = write_captions(tmp_path / "c.csv", rows)
    assert read_captions(path) == rows


def test_read_captions_strips_whitespace(tmp_path: Path) -> None:
    path = write_captions(tmp_path / "c.csv", [(" a.wav ", tuple(f" c{i} " for i in range(5)))])
    assert read_captions(path) == [("a.wav", ("c0", "c1", "c2", "c3", "c4"))]


@pytest.mark.parametrize("dropped", ["caption_3", "file_name"])
def test_missing_column_names_file_and_column(tmp_path: Path, dropped: str) -> None:
    header = [c for c in ["file_name", *CAPTION_COLUMNS] if c != dropped]
    path = tmp_path / "clotho_captions_development.csv"
    path.write_text(",".join(header) + "\n" + ",".join(["x"] * len(header)) + "\n", "utf-8")
    with pytest.raises(ManifestError) as info:
        read_captions(path)
    message = str(info.value)
    assert str(path) in message
    assert repr(dropped) in message  # "missing column(s) ['caption_3']"


@pytest.mark.parametrize("empty", ["", "   "], ids=["empty", "blank"])
def test_empty_caption_names_file_line_and_column(tmp_path: Path, empty: str) -> None:
    bad = ("c1", empty, "c3", "c4", "c5")
    path = write_captions(tmp_path / "c.csv", [("a.wav", caps("a")), ("b.wav", bad)])
    with pytest.raises(ManifestError) as info:
        read_captions(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message  # header is line 1, a.wav line 2
    assert "caption_2" in message
    assert "'b.wav'" in message
    assert "caption_1" not in message and "caption_3" not in message


def test_empty_file_name_and_duplicate_are_errors(tmp_path: Path) -> None:
    path = write_captions(tmp_path / "c.csv", [("a.wav", caps("a")), ("", caps("b"))])
    with pytest.raises(ManifestError, match=r"line 3: empty file_name"):
        read_captions(path)
    path = write_captions(tmp_path / "d.csv", [("a.wav", caps("a")), ("a.wav", caps("b"))])
    with pytest.raises(ManifestError, match=r"line 3: file_name 'a.wav' appears twice"):
        read_captions(path)


def test_missing_caption_csv(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="caption CSV not found"):
        read_captions(tmp_path / "nope.csv")


# --- build_manifest -------------------------------------------------------------------------


def test_exact_match(tmp_path: Path) -> None:
    audio = tmp_path / "development"
    names = ["a.wav", "b c.wav", "d.wav"]
    for name in names:
        write_wav(audio / name)
    rows = [(n, caps(n)) for n in names]
    csv_path = write_captions(tmp_path / "clotho_captions_development.csv", rows)
    clips = build_manifest("development", csv_path, audio)
    assert clips == [Clip("development", n, audio / n, caps(n)) for n in names]
    assert [c.key for c in clips] == [("development", n) for n in names]
    assert all(c.audio_path.is_file() for c in clips)


def test_html_entities_in_csv_match_files_on_disk(tmp_path: Path) -> None:
    audio = tmp_path / "development"
    write_wav(audio / "rain&storm.wav")
    write_wav(audio / "Chris' Elevator.wav")
    write_wav(audio / "plain.wav")
    rows = [
        ("rain&amp;storm.wav", caps("r")),
        ("Chris&#39; Elevator.wav", caps("c")),
        ("plain.wav", caps("p")),
    ]
    csv_path = write_captions(tmp_path / "c.csv", rows)
    clips = build_manifest("development", csv_path, audio)
    assert [(c.file_name, c.audio_path.name) for c in clips] == [
        ("rain&amp;storm.wav", "rain&storm.wav"),  # the CSV's name is kept as the key
        ("Chris&#39; Elevator.wav", "Chris' Elevator.wav"),
        ("plain.wav", "plain.wav"),
    ]
    assert [c.captions for c in clips] == [caps("r"), caps("c"), caps("p")]


def test_exact_name_wins_over_unescaped(tmp_path: Path) -> None:
    audio = tmp_path / "development"
    write_wav(audio / "a&amp;b.wav")
    write_wav(audio / "a&b.wav")
    csv_path = write_captions(tmp_path / "c.csv", [("a&amp;b.wav", caps("x"))])
    [clip] = build_manifest("development", csv_path, audio)
    assert clip.audio_path == audio / "a&amp;b.wav"


def test_same_name_in_two_splits_is_kept_apart(tmp_path: Path) -> None:
    clips = []
    for split, samples in [("development", 160), ("evaluation", 320)]:
        write_wav(tmp_path / split / "same.wav", samples)
        csv_path = write_captions(tmp_path / f"{split}.csv", [("same.wav", caps(split))])
        clips += build_manifest(split, csv_path, tmp_path / split)
    out = tmp_path / "manifest.csv"
    write_manifest(clips, out)
    manifest = read_manifest(out)
    assert set(manifest) == {("development", "same.wav"), ("evaluation", "same.wav")}
    dev, ev = manifest[("development", "same.wav")], manifest[("evaluation", "same.wav")]
    assert dev.captions == caps("development")
    assert ev.captions == caps("evaluation")
    assert dev.audio_path == tmp_path / "development" / "same.wav"
    assert ev.audio_path == tmp_path / "evaluation" / "same.wav"
    assert sf.info(dev.audio_path).frames == 160
    assert sf.info(ev.audio_path).frames == 320


def test_caption_rows_without_wav_are_listed(tmp_path: Path) -> None:
    audio = tmp_path / "development"
    write_wav(audio / "a.wav")
    rows = [("a.wav", caps("a")), ("gone.wav", caps("g")), ("x&amp;y.wav", caps("x"))]
    csv_path = write_captions(tmp_path / "c.csv", rows)
    with pytest.raises(ManifestError) as info:
        build_manifest("development", csv_path, audio)
    message = str(info.value)
    assert str(csv_path) in message
    assert str(audio) in message
    assert "2 caption row(s)" in message
    assert "'gone.wav'" in message
    assert "'x&amp;y.wav'" in message
    assert "'a.wav'" not in message


def test_many_missing_wavs_are_summarised(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    rows = [(f"m{i:02d}.wav", caps(str(i))) for i in range(13)]
    csv_path = write_captions(tmp_path / "c.csv", rows)
    with pytest.raises(ManifestError) as info:
        build_manifest("development", csv_path, tmp_path / "audio")
    message = str(info.value)
    assert "13 caption row(s)" in message
    assert "'m09.wav'" in message
    assert "'m10.wav'" not in message
    assert "and 3 more" in message


def test_missing_audio_dir(tmp_path: Path) -> None:
    csv_path = write_captions(tmp_path / "c.csv", [("a.wav", caps("a"))])
    with pytest.raises(ManifestError) as info:
        build_manifest("validation", csv_path, tmp_path / "validation")
    assert str(tmp_path / "validation") in str(info.value)
    assert "'validation'" in str(info.value)


# --- write_manifest / read_manifest ---------------------------------------------------------


def test_round_trip_with_awkward_text(tmp_path: Path) -> None:
    clips = [
        Clip(
            "development",
            "Café «naïve» 日本.wav",
            tmp_path / "développement" / "Café «naïve» 日本.wav",
            ("a, b, and c", 'she said "hi"', "it's", "über ñ", "line\nbreak"),
        ),
        Clip(
            "evaluation",
            "rain&amp;storm.wav",
            tmp_path / "evaluation" / "rain&storm.wav",
            ("x", "y, z", '"', "''", "ok"),
        ),
    ]
    path = tmp_path / "out" / "manifest.csv"
    write_manifest(clips, path)
    back = read_manifest(path)
    assert back == {c.key: c for c in clips}
    assert list(back) == [c.key for c in clips]
    with path.open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == MANIFEST_COLUMNS


def test_write_manifest_leaves_no_temp_files(tmp_path: Path) -> None:
    clip = Clip("development", "a.wav", tmp_path / "a.wav", caps("a"))
    out = tmp_path / "m"
    write_manifest([clip], out / "manifest.csv")
    write_manifest(
        [clip, Clip("evaluation", "a.wav", tmp_path / "b.wav", caps("b"))], out / "manifest.csv"
    )  # overwrite
    assert [p.name for p in out.iterdir()] == ["manifest.csv"]
    assert len(read_manifest(out / "manifest.csv")) == 2


def test_failed_write_keeps_earlier_manifest(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    good = Clip("development", "a.wav", tmp_path / "a.wav", caps("a"))
    write_manifest([good], path)
    before = path.read_bytes()
    broken = Clip("development", "b.wav", "not-a-Path", caps("b"))  # type: ignore[arg-type]
    with pytest.raises(AttributeError):  # fails after the first row is written
        write_manifest([good, broken], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")
    path = tmp_path / "old.csv"
    path.write_text("split,file_name,caption_1\n", encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(path) in str(info.value)
    assert "'audio_path'" in str(info.value)


# --- the CLI --------------------------------------------------------------------------------


def test_cli_manifest(tmp_path: Path, capsys) -> None:
    write_wav(tmp_path / "development" / "a&b.wav")
    csv_path = write_captions(tmp_path / "c.csv", [("a&amp;b.wav", caps("a"))])
    out = tmp_path / "manifest" / "development.csv"
    argv = [
        "manifest",
        "--split",
        "development",
        "--captions",
        str(csv_path),
        "--audio-dir",
        str(tmp_path / "development"),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "development: 1 clips" in capsys.readouterr().out
    assert read_manifest(out)[("development", "a&amp;b.wav")].audio_path.name == "a&b.wav"


def test_cli_manifest_error_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "development").mkdir()
    csv_path = write_captions(tmp_path / "c.csv", [("a.wav", caps("a"))])
    out = tmp_path / "manifest.csv"
    argv = [
        "manifest",
        "--split",
        "development",
        "--captions",
        str(csv_path),
        "--audio-dir",
        str(tmp_path / "development"),
        "--out",
        str(out),
    ]
    assert main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("maac: error: ")
    assert "'a.wav'" in lines[0]
    assert not out.exists()


# --- real Clotho v2.1 reference data (../shared) --------------------------------------------


def _official(split: str) -> Path:
    return CLOTHO / "captions" / f"clotho_captions_{split}.csv"


@needs_clotho
@pytest.mark.parametrize("split", SPLITS)
def test_real_caption_csvs_have_official_row_counts(split: str) -> None:
    rows = read_captions(_official(split))
    assert len(rows) == OFFICIAL_ROWS[split]
    assert len({name for name, _ in rows}) == len(rows)
    assert all(len(c) == 5 and all(c) for _, c in rows)


@needs_clotho
def test_real_names_with_html_entities_match_unescaped_files(tmp_path: Path) -> None:
    real_wav = next((CLOTHO / "audio_samples").glob("*.wav"))
    audio = tmp_path / "development"
    audio.mkdir()
    rows = [(n, c) for n, c in read_captions(_official("development")) if "&" in n]
    assert len(rows) >= 5  # &amp;, &#39;, &gt; ... occur in the official file
    assert any(html.unescape(n) != n for n, _ in rows)
    for name, _ in rows:
        (audio / html.unescape(name)).symlink_to(real_wav)
    csv_path = write_captions(tmp_path / "entities.csv", rows)
    clips = build_manifest("development", csv_path, audio)
    assert [c.file_name for c in clips] == [n for n, _ in rows]
    assert [c.audio_path.name for c in clips] == [html.unescape(n) for n, _ in rows]


@needs_clotho
@pytest.mark.parametrize("split", SPLITS)
def test_real_caption_csvs_form_whole_manifests(tmp_path: Path, split: str) -> None:
    """Every official row is one clip (no two rows name one file, escaped or not) over a
    folder of the files as extracted (unescaped names; empty stand-ins: only names count)."""
    audio = tmp_path / split
    audio.mkdir()
    rows = read_captions(_official(split))
    for name, _ in rows:
        (audio / html.unescape(name)).touch()
    clips = build_manifest(split, _official(split), audio)
    assert len(clips) == OFFICIAL_ROWS[split]
    assert len({c.audio_path for c in clips}) == len(clips)
    write_manifest(clips, tmp_path / "manifest.csv")
    assert len(read_manifest(tmp_path / "manifest.csv")) == OFFICIAL_ROWS[split]


def test_caption_csv_byte_order_mark_and_encoding(tmp_path: Path) -> None:
    rows = [("a.wav", caps("a"))]
    bom = write_captions(tmp_path / "bom.csv", rows)
    bom.write_bytes(b"\xef\xbb\xbf" + bom.read_bytes())
    assert read_captions(bom) == rows
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
                      b"a.wav,caf\xe9,b,c,d,e\n")
    with pytest.raises(ManifestError, match=r"latin.csv, line 2: not UTF-8 text \(byte 0xe9\)"):
        read_captions(latin)


def test_header_only_csv_and_duplicate_manifest_rows(tmp_path: Path) -> None:
    header_only = write_captions(tmp_path / "empty.csv", [])
    with pytest.raises(ManifestError, match="no clips in .*empty.csv"):
        read_captions(header_only)
    path = tmp_path / "manifest.csv"
    write_manifest([Clip("development", "a.wav", tmp_path / "a.wav", caps("a"))] * 2, path)
    with pytest.raises(ManifestError, match=r"lines 2 and 3 both hold the clip \('development', "
                                            r"'a.wav'\)"):
        read_manifest(path)


@needs_clotho
def test_real_names_shared_between_splits_stay_apart(tmp_path: Path) -> None:
    real_wav = next((CLOTHO / "audio_samples").glob("*.wav"))
    by_split = {s: dict(read_captions(_official(s))) for s in SPLITS}
    shared = {
        (a, b): sorted(set(by_split[a]) & set(by_split[b]))
        for i, a in enumerate(SPLITS)
        for b in SPLITS[i + 1 :]
    }
    pairs = [(a, b, n) for (a, b), names in shared.items() for n in names]
    assert pairs, "the README says a few file names occur in two splits"
    clips = []
    for split in SPLITS:
        names = sorted({n for a, b, n in pairs if split in (a, b)})
        if not names:
            continue
        for name in names:
            path = tmp_path / split / html.unescape(name)
            path.parent.mkdir(exist_ok=True)
            path.symlink_to(real_wav)
        rows = [(n, by_split[split][n]) for n in names]
        clips += build_manifest(
            split, write_captions(tmp_path / f"{split}.csv", rows), tmp_path / split
        )
    write_manifest(clips, tmp_path / "manifest.csv")
    manifest = read_manifest(tmp_path / "manifest.csv")
    assert len(manifest) == len(clips) == 2 * len(pairs)
    for a, b, name in pairs:
        assert manifest[(a, name)].captions == by_split[a][name]
        assert manifest[(b, name)].captions == by_split[b][name]
        assert manifest[(a, name)].audio_path.parent.name == a


@needs_clotho
def test_real_audio_samples_form_a_manifest(tmp_path: Path) -> None:
    samples = CLOTHO / "audio_samples"
    with (samples / "captions.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        sample_rows = list(reader)
    for column in ["path", "clotho_split", "file_name", *CAPTION_COLUMNS]:
        assert column in header, f"{samples / 'captions.csv'} lacks column {column!r}"
    assert len(sample_rows) == 10

    splits = sorted({r["clotho_split"] for r in sample_rows})
    assert set(splits) <= set(SPLITS)
    clips = []
    for split in splits:
        rows = [r for r in sample_rows if r["clotho_split"] == split]
        for r in rows:
            link = tmp_path / "audio" / split / html.unescape(r["file_name"])
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(samples / r["path"])
        csv_path = write_captions(
            tmp_path / "captions" / f"clotho_captions_{split}.csv",
            [(r["file_name"], tuple(r[c] for c in CAPTION_COLUMNS)) for r in rows],
        )
        clips += build_manifest(split, csv_path, tmp_path / "audio" / split)
    assert len(clips) == 10

    write_manifest(clips, tmp_path / "manifest.csv")
    manifest = read_manifest(tmp_path / "manifest.csv")
    assert len(manifest) == 10
    official = {s: dict(read_captions(_official(s))) for s in splits}
    for r in sample_rows:
        clip = manifest[(r["clotho_split"], r["file_name"])]
        assert clip.audio_path.resolve() == (samples / r["path"]).resolve()
        # the sample captions are the official ones for that split
        assert clip.captions == official[r["clotho_split"]][r["file_name"]]
        info = sf.info(clip.audio_path)
        assert (info.samplerate, info.channels) == (44100, 1)
        assert 15 <= info.duration <= 30
