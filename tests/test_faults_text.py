"""Bad caption CSVs, manifests and text-layer input (issue 17): one line naming the file, the rows
or the option and what to do; nothing written, nothing else changed. A full disk while
`maac manifest` writes is "disk full writing X" with no partial output."""

from __future__ import annotations

import csv
import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import maac.data.manifest as manifest_module
from maac.cli.main import main
from maac.data.manifest import CAPTION_COLUMNS, Clip, write_manifest
from tests.faults import Outcome, assert_one_line_error, run_maac, tree_digest

HEADER = ["file_name", *CAPTION_COLUMNS]
CAPTIONS = {
    "dog.wav": ("A dog barks loudly.", "A dog is barking", "Dogs bark at a car",
                "A dog barks twice", "Barking of a dog"),
    "rain.wav": ("Rain falls on a roof.", "Heavy rain is falling", "Rain falls steadily",
                 "Rain drops on a window", "Falling rain and thunder"),
}


def _csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def _dataset(root: Path, rows: list[list[str]] | None = None, encoding: str = "utf-8") -> Path:
    """root/audio/{names} (empty files: the manifest only matches names) and root/captions.csv."""
    rows = rows if rows is not None else [[n, *c] for n, c in CAPTIONS.items()]
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    for name in CAPTIONS:
        (audio / name).touch()
    return _csv(root / "captions.csv", rows, encoding)


def _manifest_args(root: Path, out: Path) -> list[str]:
    return ["manifest", "--split", "development", "--captions", str(root / "captions.csv"),
            "--audio-dir", str(root / "audio"), "--out", str(out)]


def _clips(captions: dict[str, tuple[str, ...]], split: str = "development") -> list[Clip]:
    return [Clip(split, name, Path("audio") / name, caps) for name, caps in captions.items()]


def _text_build(manifest: Path, out_dir: Path, *options: str) -> list[str]:
    split = "development"  # the manifests these tests write
    return ["text", "build", "--train", str(manifest), "--manifests", str(manifest),
            "--vocab", str(out_dir / "vocab.json"), "--keywords", str(out_dir / "keywords.csv"),
            "--captions", str(out_dir / f"captions_{split}.jsonl"),
            "--labels", str(out_dir / f"labels_{split}.npz"),
            "--summary", str(out_dir / "summary.json"),
            "--count", "10", "--min-length", "3", "--stopwords", "be", *options]


# --- caption CSVs -> `maac manifest` --------------------------------------------------------


def test_caption_csv_not_utf8(tmp_path: Path) -> None:
    rows = [["dog.wav", *CAPTIONS["dog.wav"]],
            ["rain.wav", "Pluie tombée", *CAPTIONS["rain.wav"][1:]]]
    path = _dataset(tmp_path, rows, encoding="latin-1")
    before = tree_digest(tmp_path)
    for args in (_manifest_args(tmp_path, tmp_path / "m.csv"), ["text", "vocab", str(path)]):
        outcome = run_maac(args, tmp_path)
        assert_one_line_error(outcome, f"{path}, line 3", "not UTF-8 text (byte 0xe9)",
                              "save the caption CSV as UTF-8")
    assert tree_digest(tmp_path) == before


def test_caption_csv_with_byte_order_mark_gives_the_same_manifest(tmp_path: Path) -> None:
    plain, bom = tmp_path / "plain", tmp_path / "bom"
    _dataset(plain)
    _dataset(bom, encoding="utf-8-sig")
    assert (bom / "captions.csv").read_bytes().startswith(b"\xef\xbb\xbffile_name,")
    for root in (plain, bom):
        outcome = run_maac(_manifest_args(root, root / "m.csv"), root)
        assert outcome.code == 0, outcome.stderr
        assert "development: 2 clips" in outcome.stdout
    plain_text = (plain / "m.csv").read_text(encoding="utf-8")
    assert (bom / "m.csv").read_text(encoding="utf-8") == plain_text.replace(
        str(plain), str(bom))


def test_one_wav_named_twice_escaped_and_not(tmp_path: Path) -> None:
    """Clotho writes some names HTML-escaped: 'a&amp;b.wav' and 'a&b.wav' are one file."""
    rows = [["dog.wav", *CAPTIONS["dog.wav"]], ["a&amp;b.wav", *CAPTIONS["rain.wav"]],
            ["a&b.wav", *CAPTIONS["dog.wav"]]]
    path = _dataset(tmp_path, rows)
    (tmp_path / "audio" / "a&b.wav").touch()
    before = tree_digest(tmp_path)
    outcome = run_maac(_manifest_args(tmp_path, tmp_path / "m.csv"), tmp_path)
    assert_one_line_error(outcome, str(path), "lines 3 ('a&amp;b.wav') and 4 ('a&b.wav')",
                          str(tmp_path / "audio" / "a&b.wav"), "keep one row per clip")
    assert tree_digest(tmp_path) == before


def test_header_only_caption_csv(tmp_path: Path) -> None:
    path = _dataset(tmp_path, rows=[])
    before = tree_digest(tmp_path)
    for args in (_manifest_args(tmp_path, tmp_path / "m.csv"), ["text", "vocab", str(path)]):
        outcome = run_maac(args, tmp_path)
        assert_one_line_error(outcome, f"no clips in {path}", "only a header")
    assert tree_digest(tmp_path) == before


def test_caption_csv_row_twice(tmp_path: Path) -> None:
    path = _dataset(tmp_path, [["dog.wav", *CAPTIONS["dog.wav"]]] * 2)
    outcome = run_maac(_manifest_args(tmp_path, tmp_path / "m.csv"), tmp_path)
    assert_one_line_error(outcome, f"{path}, line 3", "'dog.wav' appears twice (first on line 2)")


def test_manifest_out_is_a_folder(tmp_path: Path) -> None:
    _dataset(tmp_path)
    (tmp_path / "out").mkdir()
    before = tree_digest(tmp_path)
    outcome = run_maac(_manifest_args(tmp_path, tmp_path / "out"), tmp_path)
    assert_one_line_error(outcome, f"{tmp_path / 'out'} is a folder")
    assert tree_digest(tmp_path) == before


# --- a full disk while `maac manifest` writes -------------------------------------------------


def _tiny_filesystems() -> bool:
    """Whether `unshare -rm` can mount a tmpfs (a real full disk without root on the host)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.mark.skipif(not _tiny_filesystems(), reason="unshare -rm cannot mount a tmpfs here; "
                    "test_disk_full_in_process covers the same path")
def test_disk_full_on_a_real_full_filesystem(tmp_path: Path) -> None:
    """A 4 KiB tmpfs, filled up, mounted in a private namespace on tmp_path/full."""
    _dataset(tmp_path)
    full = tmp_path / "full"
    full.mkdir()
    out = full / "m.csv"
    command = " ".join(f"'{a}'" for a in ["maac", *_manifest_args(tmp_path, out)])
    script = (f"mount -t tmpfs -o size=4k tmpfs '{full}' && "
              f"(dd if=/dev/zero of='{full}/filler' bs=1k count=16 2>/dev/null; true) && "
              f"{command}; echo \"rc=$?\"; ls -A '{full}'")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    before = tree_digest(tmp_path)
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert "rc=" in done.stdout, (done.stdout, done.stderr)
    code, *left = done.stdout.split("rc=")[1].split()
    assert_one_line_error(Outcome(int(code), done.stdout, done.stderr),
                          f"disk full writing {out}", "free some space")
    assert left == ["filler"], done.stdout  # no manifest, no temporary file
    assert tree_digest(tmp_path) == before


def test_disk_full_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """The same, with the CSV writer raising ENOSPC after its first row (monkeypatched)."""
    _dataset(tmp_path)
    out = tmp_path / "manifests" / "m.csv"
    write_manifest(_clips({"old.wav": CAPTIONS["dog.wav"]}), out)
    earlier = out.read_bytes()

    real_writer = csv.writer

    class FullDisk:
        def __init__(self, f, **kwargs) -> None:
            self.rows, self.inner = 0, real_writer(f, **kwargs)

        def writerow(self, row) -> None:
            self.rows += 1
            if self.rows > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.inner.writerow(row)

    monkeypatch.setattr(manifest_module.csv, "writer", FullDisk)
    before = tree_digest(tmp_path)
    assert main(_manifest_args(tmp_path, out)) == 1
    err = capsys.readouterr().err
    assert err == f"maac: error: disk full writing {out}; free some space and rerun\n"
    assert out.read_bytes() == earlier
    assert tree_digest(tmp_path) == before  # the earlier manifest kept, no temp file left


# --- manifests and captions -> `maac text` ---------------------------------------------------


def test_duplicate_manifest_key(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    write_manifest(_clips(CAPTIONS), path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*lines, lines[1]]), encoding="utf-8")  # dog.wav again, line 4
    before = tree_digest(tmp_path)
    outcome = run_maac(_text_build(path, tmp_path / "text"), tmp_path)
    assert_one_line_error(outcome, str(path), "lines 2 and 4",
                          "('development', 'dog.wav')", "regenerate the manifest")
    assert tree_digest(tmp_path) == before


def test_header_only_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    write_manifest([], path)
    before = tree_digest(tmp_path)
    outcome = run_maac(_text_build(path, tmp_path / "text"), tmp_path)
    assert_one_line_error(outcome, f"no clips in {path}", "maac manifest")
    assert tree_digest(tmp_path) == before


def test_manifest_of_two_splits(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    write_manifest(_clips({"dog.wav": CAPTIONS["dog.wav"]})
                   + _clips({"rain.wav": CAPTIONS["rain.wav"]}, "validation"), path)
    outcome = run_maac(_text_build(path, tmp_path / "text"), tmp_path)
    assert_one_line_error(outcome, str(path), "one split, found development, validation")


PUNCTUATION = {"dog.wav": ("...", "!!", "?", "-", "' '"), "rain.wav": (".", ",", ";", ":", "--")}


def test_punctuation_only_captions(tmp_path: Path) -> None:
    csv_path = _csv(tmp_path / "captions.csv", [[n, *c] for n, c in PUNCTUATION.items()])
    manifest = tmp_path / "m.csv"
    write_manifest(_clips(PUNCTUATION), manifest)
    before = tree_digest(tmp_path)
    for args, source in ((["text", "vocab", str(csv_path)], csv_path),
                         (["text", "keywords", str(csv_path), "--count", "5", "--min-length",
                           "3", "--stopwords", "be"], csv_path),
                         (_text_build(manifest, tmp_path / "text"), manifest)):
        outcome = run_maac(args, tmp_path)
        assert_one_line_error(outcome, f"{source}: no words in its 10 captions",
                              "check that the caption columns hold the captions' text")
    assert tree_digest(tmp_path) == before


def test_no_keywords(tmp_path: Path) -> None:
    """Every noun and verb shorter than --min-length: no keyword, nothing written."""
    manifest = tmp_path / "m.csv"
    write_manifest(_clips(CAPTIONS), manifest)
    csv_path = _csv(tmp_path / "captions.csv", [[n, *c] for n, c in CAPTIONS.items()])
    before = tree_digest(tmp_path)
    build = _text_build(manifest, tmp_path / "text")
    build[build.index("--min-length") + 1] = "15"
    for args, source in ((build, manifest),
                         (["text", "keywords", str(csv_path), "--count", "5", "--min-length",
                           "15", "--stopwords", "be"], csv_path)):
        outcome = run_maac(args, tmp_path)
        assert_one_line_error(outcome, f"{source}: no keywords", "lower the keywords' min_length",
                              "text.keywords")
    assert tree_digest(tmp_path) == before


def test_min_count_above_every_word(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    write_manifest(_clips(CAPTIONS), manifest)
    before = tree_digest(tmp_path)
    outcome = run_maac(_text_build(manifest, tmp_path / "text", "--min-count", "1000"), tmp_path)
    assert_one_line_error(outcome, f"{manifest}: no word occurs 1000 times or more",
                          "--min-count")
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("option", ["--count", "--min-length", "--min-count"])
def test_zero_options_are_refused_by_the_parser(tmp_path: Path, option: str) -> None:
    manifest = tmp_path / "m.csv"
    write_manifest(_clips(CAPTIONS), manifest)
    args = _text_build(manifest, tmp_path / "text")
    if option in args:
        args[args.index(option) + 1] = "0"
    else:
        args += [option, "0"]
    before = tree_digest(tmp_path)
    outcome = run_maac(args, tmp_path)
    assert outcome.code == 2 and "Traceback" not in outcome.stderr
    assert f"argument {option}: '0': expected a whole number of at least 1" in outcome.stderr
    assert tree_digest(tmp_path) == before


def test_damaged_text_artifacts_are_one_line(tmp_path: Path) -> None:
    """A damaged keywords.csv or labels_{split}.npz (our own outputs) names the file."""
    from maac.errors import MaacError
    from maac.text.build import read_labels
    from maac.text.keywords import KeywordTable

    labels = tmp_path / "labels_development.npz"
    labels.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(MaacError, match=f"{labels}: not a keyword-labels file .*maac text build"):
        read_labels(labels)
    table = tmp_path / "keywords.csv"
    table.write_bytes(b"rank,word,kind,count\n1,caf\xe9,noun,1\n")
    with pytest.raises(MaacError, match=f"{table}, line 2: not UTF-8"):
        KeywordTable.load(table)
