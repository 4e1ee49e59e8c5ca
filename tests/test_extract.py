"""maac.data.extract (safe 7z extraction) and maac.data.clotho.fetch end to end over HTTP."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import struct
import zlib
from pathlib import Path

import py7zr
import pytest
import yaml

from maac.atomic import MARKER
from maac.cli.main import main
from maac.data import clotho
from maac.data.extract import ExtractError, _check_entry, extract_7z
from maac.errors import MaacError
from tests.helpers_http import http_server_fixture  # noqa: F401

REPO = Path(__file__).resolve().parents[1]

ENTRIES = {
    "development/a b.wav": b"RIFF a b" * 100,
    "development/c&d.wav": b"RIFF c&d" * 50,
    "development/Chris' x.wav": b"RIFF chris" * 10,
}


def make_7z(path: Path, entries: dict[str, bytes]) -> Path:
    with py7zr.SevenZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(data, name)
    return path


def make_evil_7z(path: Path, evil_name: str) -> Path:
    """A 7z with a good entry and one named ``evil_name`` (11 characters), which py7zr would
    refuse to write: write a placeholder name, patch it in the plain header, fix both CRCs."""
    placeholder = "xx/evil.wav"
    assert len(evil_name) == len(placeholder)
    with py7zr.SevenZipFile(path, "w") as z:
        z.encoded_header_mode = False
        z.writestr(b"hello", "development/x.wav")
        z.writestr(b"evil", placeholder)
    b = bytearray(path.read_bytes())
    old, new = placeholder.encode("utf-16-le"), evil_name.encode("utf-16-le")
    i = b.find(old)
    assert i > 0
    b[i : i + len(old)] = new
    off, size = struct.unpack_from("<QQ", b, 12)
    struct.pack_into("<I", b, 28, zlib.crc32(b[32 + off : 32 + off + size]))
    struct.pack_into("<I", b, 8, zlib.crc32(b[12:32]))
    path.write_bytes(b)
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    """The extracted files (without the marker that maac extract writes last)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
        if p.is_file() and p.name != MARKER
    }


def _no_temp_dirs(parent: Path) -> None:
    assert [p.name for p in parent.iterdir() if p.name.startswith(".")] == []


def _free(monkeypatch, free: int) -> None:
    """Make extract_7z see ``free`` bytes free on any disk."""
    monkeypatch.setattr(
        "maac.data.extract.shutil.disk_usage",
        lambda path: _REAL_DISK_USAGE(path)._replace(free=free),
    )


_REAL_DISK_USAGE = shutil.disk_usage


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- extraction ---------------------------------------------------------------------------


def test_extract_with_strip_puts_files_directly_in_out_dir(tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "clotho_audio_development.7z", ENTRIES)
    out = tmp_path / "data" / "development"
    assert extract_7z(archive, out, strip="development") == len(ENTRIES)
    assert _tree(out) == {name.removeprefix("development/"): d for name, d in ENTRIES.items()}
    assert not (out / "development").exists()
    _no_temp_dirs(out.parent)
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker == {"written_by": "maac extract",
                      "files": sorted(n.removeprefix("development/") for n in ENTRIES)}


def test_extract_without_strip_keeps_top_folder(tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "a.7z", ENTRIES)
    out = tmp_path / "out"
    assert extract_7z(archive, out) == len(ENTRIES)
    assert _tree(out) == ENTRIES


def test_strip_of_another_name_is_refused(tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "a.7z", ENTRIES)
    out = tmp_path / "out"
    with pytest.raises(ExtractError, match="top level holds 'development', not the one folder "
                                           "'evaluation'"):
        extract_7z(archive, out, strip="evaluation")
    assert not out.exists()


def test_strip_needs_every_entry_under_the_folder(tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "a.7z", {**ENTRIES, "README.txt": b"loose"})
    with pytest.raises(ExtractError, match="'README.txt', 'development'"):
        extract_7z(archive, tmp_path / "out", strip="development")
    assert not (tmp_path / "out").exists()


def test_extract_replaces_an_earlier_extraction(tmp_path: Path) -> None:
    out = tmp_path / "out"
    extract_7z(make_7z(tmp_path / "old.7z", {"development/old.wav": b"old"}), out, "development")
    extract_7z(make_7z(tmp_path / "new.7z", ENTRIES), out, strip="development")
    assert sorted(_tree(out)) == sorted(n.removeprefix("development/") for n in ENTRIES)
    _no_temp_dirs(tmp_path)


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "clotho_audio_development.7z"
    path.write_text("<html>Too many requests</html>\n", encoding="utf-8")
    return path


def _truncated_archive(tmp_path: Path) -> Path:
    good = make_7z(tmp_path / "good.7z", ENTRIES)
    path = tmp_path / "clotho_audio_development.7z"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return path


def _tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "clotho_audio_development.7z"
    path.write_bytes(b"7z")
    return path


@pytest.mark.parametrize("make", [_text_file, _tiny_file], ids=["text", "two bytes"])
def test_not_a_7z_file_is_refused(tmp_path: Path, make) -> None:
    archive = make(tmp_path)
    out = tmp_path / "data" / "development"
    with pytest.raises(ExtractError) as info:
        extract_7z(archive, out, strip="development")
    assert str(archive) in str(info.value)
    assert "not a 7z archive" in str(info.value)
    assert not out.exists()
    assert not out.parent.exists()


def _corrupt_archive(tmp_path: Path) -> Path:
    entries = {"development/a.wav": bytes(range(256)) * 40}
    path = make_7z(tmp_path / "clotho_audio_development.7z", entries)
    b = bytearray(path.read_bytes())
    b[100] ^= 0xFF  # inside the packed stream: the header is fine, the data is not
    path.write_bytes(b)
    return path


@pytest.mark.parametrize(
    "make", [_truncated_archive, _corrupt_archive], ids=["truncated", "corrupt"]
)
def test_damaged_7z_leaves_nothing_behind(tmp_path: Path, make) -> None:
    archive = make(tmp_path)
    out = tmp_path / "data" / "development"
    # py7zr raises Bad7zFile, CrcError or lzma.LZMAError here; the next test wants ExtractError
    with pytest.raises((MaacError, py7zr.exceptions.ArchiveError, lzma.LZMAError)):
        extract_7z(archive, out, strip="development")
    assert not out.exists()
    if out.parent.exists():
        assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    "make", [_truncated_archive, _corrupt_archive], ids=["truncated", "corrupt"]
)
def test_damaged_7z_is_a_maac_error_naming_the_path(tmp_path: Path, make) -> None:
    archive = make(tmp_path)
    with pytest.raises(MaacError) as info:
        extract_7z(archive, tmp_path / "data" / "development", strip="development")
    assert str(archive) in str(info.value)


EVIL_NAMES = ["../evil.wav", "/x/evil.wav", "..\\evil.wav", "C:/evil.wav", "a/../../e.w"]


@pytest.mark.parametrize("evil", EVIL_NAMES)
def test_entry_escaping_the_folder_is_refused(tmp_path: Path, evil: str) -> None:
    archive = make_evil_7z(tmp_path / "evil.7z", evil)
    out = tmp_path / "data" / "sub" / "development"
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(ExtractError) as info:
        extract_7z(archive, out, strip="development")
    message = str(info.value)
    assert str(archive) in message
    assert "outside the target folder" in message
    assert repr(evil.replace("\\", "/")) in message or repr(evil) in message
    assert not out.exists()
    assert {p for p in tmp_path.rglob("*")} == before  # nothing written anywhere


@pytest.mark.parametrize(
    "name", ["..\\evil.wav", "development\\..\\..\\evil.wav", "\\\\server\\share\\x.wav", "D:x.wav"]
)
def test_check_entry_refuses_windows_style_names(tmp_path: Path, name: str) -> None:
    # py7zr already turns backslashes into slashes when reading; the check must not rely on it
    with pytest.raises(ExtractError, match="outside the target folder"):
        _check_entry(tmp_path / "a.7z", name)


@pytest.mark.parametrize("name", ["development/a..b.wav", "development/..hidden.wav", "x.wav"])
def test_check_entry_accepts_ordinary_names(tmp_path: Path, name: str) -> None:
    _check_entry(tmp_path / "a.7z", name)


def test_not_enough_disk_space_is_refused(tmp_path: Path, monkeypatch) -> None:
    archive = make_7z(tmp_path / "a.7z", ENTRIES)
    out = tmp_path / "data" / "development"
    _free(monkeypatch, 100)
    with pytest.raises(ExtractError) as info:
        extract_7z(archive, out, strip="development")
    message = str(info.value)
    assert str(archive) in message
    assert "needs 1.36 kB to extract" in message
    assert "has 100 B free" in message
    assert str(out.parent) in message
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_disk_space_check_uses_uncompressed_size(tmp_path: Path, monkeypatch) -> None:
    # 2 MB of zeros compress to almost nothing: the check must count the 2 MB (+5 %)
    archive = make_7z(tmp_path / "a.7z", {"development/z.wav": bytes(2_000_000)})
    assert archive.stat().st_size < 10_000
    _free(monkeypatch, 2_000_000)
    with pytest.raises(ExtractError, match="needs 2.1 MB to extract but .* has 2 MB free"):
        extract_7z(archive, tmp_path / "out1")
    assert not (tmp_path / "out1").exists()
    _free(monkeypatch, 2_200_000)
    assert extract_7z(archive, tmp_path / "out2") == 1


@pytest.mark.parametrize("bad", ["text", "evil", "no space"])
def test_failed_extraction_keeps_earlier_out_dir(tmp_path: Path, monkeypatch, bad: str) -> None:
    out = tmp_path / "data" / "development"
    extract_7z(make_7z(tmp_path / "good.7z", ENTRIES), out, strip="development")
    before = _tree(out)
    assert len(before) == len(ENTRIES)
    if bad == "text":
        archive = _text_file(tmp_path)
    elif bad == "evil":
        archive = make_evil_7z(tmp_path / "evil.7z", "../evil.wav")
    else:
        archive = make_7z(tmp_path / "other.7z", {"development/new.wav": b"new"})
        _free(monkeypatch, 0)
    with pytest.raises(ExtractError):
        extract_7z(archive, out, strip="development")
    assert _tree(out) == before
    assert [p.name for p in out.parent.iterdir()] == ["development"]


def test_cli_extract(tmp_path: Path, capsys) -> None:
    archive = make_7z(tmp_path / "a.7z", ENTRIES)
    out = tmp_path / "out"
    assert main(["extract", str(archive), str(out), "--strip", "development"]) == 0
    assert f"extracted {len(ENTRIES)} files" in capsys.readouterr().out
    assert sorted(_tree(out)) == sorted(n.removeprefix("development/") for n in ENTRIES)


def test_cli_extract_error_is_one_line(tmp_path: Path, capsys) -> None:
    archive = make_evil_7z(tmp_path / "evil.7z", "../evil.wav")
    assert main(["extract", str(archive), str(tmp_path / "out")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("maac: error: ")
    assert "'../evil.wav'" in lines[0]
    assert not (tmp_path / "out").exists()


# --- clotho.fetch over HTTP ---------------------------------------------------------------

CLIPS = {
    "development/x.wav": b"RIFF clip x" * 20,
    "development/rain&storm.wav": b"RIFF rain" * 30,
}
CSV = (
    "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
    "x.wav,a,b,c,d,e\n"
    "rain&amp;storm.wav,f,g,h,i,j\n"
)


def _serve_clotho(server) -> dict[str, str]:
    make_7z(server.root / "clotho_audio_development.7z", CLIPS)
    (server.root / "clotho_captions_development.csv").write_text(CSV, encoding="utf-8")
    return {p.name: _md5(p) for p in sorted(server.root.iterdir())}


def test_fetch_downloads_and_extracts(http_server, tmp_path: Path) -> None:
    files = _serve_clotho(http_server)
    out = tmp_path / "clotho"
    clotho.fetch(out, http_server.template, files)
    assert _tree(out / "development") == {
        "x.wav": CLIPS["development/x.wav"],
        "rain&storm.wav": CLIPS["development/rain&storm.wav"],
    }
    assert (out / "clotho_captions_development.csv").read_text(encoding="utf-8") == CSV
    assert _md5(out / "clotho_audio_development.7z") == files["clotho_audio_development.7z"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*files, "development"])
    assert http_server.count() == 2

    marker = out / "development" / "added-later.txt"
    marker.write_text("kept", encoding="utf-8")
    clotho.fetch(out, http_server.template, files)  # a second run: nothing to do
    assert http_server.count() == 2
    assert marker.read_text(encoding="utf-8") == "kept"  # the split folder was not re-extracted


def test_fetch_only_one_file(http_server, tmp_path: Path) -> None:
    files = _serve_clotho(http_server)
    out = tmp_path / "clotho"
    clotho.fetch(out, http_server.template, files, only=["clotho_captions_development.csv"])
    assert sorted(p.name for p in out.iterdir()) == ["clotho_captions_development.csv"]
    assert [r.name for r in http_server.requests] == ["clotho_captions_development.csv"]


def test_fetch_unknown_only_is_an_error(http_server, tmp_path: Path) -> None:
    files = _serve_clotho(http_server)
    with pytest.raises(MaacError, match="clotho_audio_nope.7z"):
        clotho.fetch(
            tmp_path / "clotho", http_server.template, files, only=["clotho_audio_nope.7z"]
        )
    assert http_server.requests == []


def test_archive_split() -> None:
    assert clotho.archive_split("clotho_audio_development.7z") == "development"
    assert clotho.archive_split("clotho_audio_evaluation.7z") == "evaluation"
    assert clotho.archive_split("clotho_captions_development.csv") is None
    assert clotho.archive_split("clotho_audio_development.7z.part") is None


def _clotho_config(tmp_path: Path, template: str, files: dict[str, str]) -> Path:
    with (REPO / "config" / "config.yaml").open(encoding="utf-8") as f:
        config = yaml.safe_load(f)
    config["dataset"]["zenodo"]["url"] = template
    config["dataset"]["zenodo"]["files"] = files
    path = tmp_path / "clotho_local.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_cli_download_clotho(http_server, tmp_path: Path, capsys) -> None:
    files = _serve_clotho(http_server)
    cfg = _clotho_config(tmp_path, http_server.template, files)
    out = tmp_path / "clotho"
    assert main(["download", "clotho", str(out), "--config", str(cfg)]) == 0
    assert "Clotho is ready" in capsys.readouterr().out
    assert sorted(_tree(out / "development")) == ["rain&storm.wav", "x.wav"]
    assert (out / "clotho_captions_development.csv").read_text(encoding="utf-8") == CSV


def test_cli_download_clotho_bad_md5_is_one_line(http_server, tmp_path: Path, capsys) -> None:
    files = _serve_clotho(http_server)
    files["clotho_audio_development.7z"] = "0" * 32
    cfg = _clotho_config(tmp_path, http_server.template, files)
    out = tmp_path / "clotho"
    assert main(["download", "clotho", str(out), "--config", str(cfg)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("maac: error: ")
    assert http_server.url("clotho_audio_development.7z") in lines[0]
    assert not (out / "development").exists()
    assert not (out / "clotho_audio_development.7z").exists()


def test_cli_download_clotho_needs_zenodo(tmp_path: Path, capsys) -> None:
    demo = REPO / "config" / "demo.yaml"
    assert main(["download", "clotho", str(tmp_path / "clotho"), "--config", str(demo)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "dataset.zenodo is not set" in lines[0]
    assert not (tmp_path / "clotho").exists()
