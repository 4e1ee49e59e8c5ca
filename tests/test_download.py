"""maac.data.download against a real local HTTP server: checksums, resume, retries, the CLI."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from maac.cli.main import main
from maac.data import download as download_module
from maac.data.download import DownloadError, download, md5sum
from maac.errors import MaacError
from tests.helpers_http import http_server_fixture  # noqa: F401

# The client writes what it receives in 1 MiB blocks (download.CHUNK); a cut must fall after at
# least one whole block for any bytes to reach the .part file, so the test files are 3 MB.
SIZE = 3_000_000
CUT = 1_600_000


def _blob(size: int = SIZE, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _serve(server, name: str = "data.bin", data: bytes | None = None) -> tuple[str, bytes]:
    data = _blob() if data is None else data
    (server.root / name).write_bytes(data)
    return server.url(name), data


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_md5sum_matches_hashlib(tmp_path: Path) -> None:
    data = _blob(2_500_000, seed=3)  # more than one read block
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert md5sum(path) == _md5(data)


def test_success(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    dest = tmp_path / "out" / "data.bin"  # the folder does not exist yet
    assert download(url, dest, _md5(data), backoff=0) == dest
    assert dest.read_bytes() == data
    assert md5sum(dest) == _md5(data)
    assert _leftovers(dest.parent) == ["data.bin"]  # no .part left
    assert http_server.count("data.bin") == 1
    assert http_server.ranges == []


def test_bad_checksum_removes_download_and_keeps_other_artifacts(
    http_server, tmp_path: Path
) -> None:
    url, data = _serve(http_server)
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "earlier.bin"  # a finished artifact from an earlier step
    earlier.write_bytes(b"earlier artifact")
    earlier_mtime = earlier.stat().st_mtime_ns
    wrong = "0" * 32
    with pytest.raises(DownloadError) as info:
        download(url, out / "data.bin", wrong, backoff=0)
    message = str(info.value)
    assert isinstance(info.value, MaacError)
    assert url in message
    assert wrong in message
    assert _md5(data) in message
    assert "\n" not in message
    assert _leftovers(out) == ["earlier.bin"]  # neither data.bin nor data.bin.part
    assert earlier.read_bytes() == b"earlier artifact"
    assert earlier.stat().st_mtime_ns == earlier_mtime


def test_interrupted_transfer_resumes_with_range(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    http_server.cut["data.bin"] = "first"
    http_server.cut_bytes = CUT
    dest = tmp_path / "data.bin"
    download(url, dest, _md5(data), retries=3, backoff=0)
    assert dest.read_bytes() == data
    assert _leftovers(tmp_path) == ["data.bin", "srv"]
    reqs = http_server.requests
    assert [r.status for r in reqs] == [200, 206]
    assert reqs[0].range is None
    assert len(http_server.ranges) == 1
    start = int(http_server.ranges[0].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= CUT  # resumed from what had arrived, not from zero


def test_retries_back_off_exponentially(http_server, tmp_path: Path, monkeypatch) -> None:
    url, data = _serve(http_server)
    http_server.cut["data.bin"] = "always"
    http_server.cut_bytes = 10
    waits: list[float] = []
    monkeypatch.setattr(download_module.time, "sleep", waits.append)
    with pytest.raises(DownloadError):
        download(url, tmp_path / "data.bin", _md5(data), retries=3, backoff=0.5)
    assert waits == [0.5, 1.0, 2.0]
    assert http_server.count("data.bin") == 4


def test_retries_exhausted_keeps_partial_then_resumes(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    http_server.cut["data.bin"] = "always"
    http_server.cut_bytes = CUT
    dest = tmp_path / "data.bin"
    part = tmp_path / "data.bin.part"
    with pytest.raises(DownloadError) as info:
        download(url, dest, _md5(data), retries=2, backoff=0)
    message = str(info.value)
    assert url in message
    assert "3 attempts" in message
    assert "kept" in message
    assert str(part) in message
    assert not dest.exists()
    assert part.is_file()
    kept = part.read_bytes()
    assert 0 < len(kept) < len(data)
    assert kept == data[: len(kept)]
    assert http_server.count("data.bin") == 3

    # "run again to resume": the next run asks only for the missing bytes
    http_server.cut.clear()
    before = len(http_server.requests)
    download(url, dest, _md5(data), backoff=0)
    assert dest.read_bytes() == data
    assert not part.exists()
    resumed = http_server.requests[before:]
    assert [(r.range, r.status) for r in resumed] == [(f"bytes={len(kept)}-", 206)]


def test_partial_from_earlier_run_is_resumed(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    (tmp_path / "data.bin.part").write_bytes(data[:12345])
    download(url, tmp_path / "data.bin", _md5(data), backoff=0)
    assert (tmp_path / "data.bin").read_bytes() == data
    assert [(r.range, r.status) for r in http_server.requests] == [("bytes=12345-", 206)]


def test_complete_partial_is_renamed_after_416(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    (tmp_path / "data.bin.part").write_bytes(data)  # killed between the last byte and the rename
    download(url, tmp_path / "data.bin", _md5(data), backoff=0)
    assert (tmp_path / "data.bin").read_bytes() == data
    assert not (tmp_path / "data.bin.part").exists()
    assert [(r.range, r.status) for r in http_server.requests] == [(f"bytes={SIZE}-", 416)]


def test_server_ignoring_range_starts_over(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    http_server.ignore_range.add("data.bin")
    (tmp_path / "data.bin.part").write_bytes(b"x" * 5000)  # would corrupt the file if appended to
    download(url, tmp_path / "data.bin", _md5(data), backoff=0)
    assert (tmp_path / "data.bin").read_bytes() == data
    assert [(r.range, r.status) for r in http_server.requests] == [("bytes=5000-", 200)]


def test_corrupt_partial_is_discarded_and_next_run_succeeds(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    part = tmp_path / "data.bin.part"
    part.write_bytes(b"x" * 5000)  # not a prefix of the file: the resumed result is wrong
    with pytest.raises(DownloadError, match="does not match"):
        download(url, tmp_path / "data.bin", _md5(data), backoff=0)
    assert not part.exists()
    assert not (tmp_path / "data.bin").exists()
    download(url, tmp_path / "data.bin", _md5(data), backoff=0)
    assert (tmp_path / "data.bin").read_bytes() == data


def test_existing_dest_with_right_md5_is_skipped(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    dest = tmp_path / "data.bin"
    dest.write_bytes(data)
    mtime = dest.stat().st_mtime_ns
    assert download(url, dest, _md5(data), backoff=0) == dest
    assert http_server.requests == []
    assert dest.read_bytes() == data
    assert dest.stat().st_mtime_ns == mtime
    assert not (tmp_path / "data.bin.part").exists()


def test_existing_dest_with_wrong_md5_fails_untouched(http_server, tmp_path: Path) -> None:
    url, data = _serve(http_server)
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"something else")
    with pytest.raises(DownloadError) as info:
        download(url, dest, _md5(data), backoff=0)
    message = str(info.value)
    assert str(dest) in message
    assert _md5(data) in message
    assert http_server.requests == []
    assert dest.read_bytes() == b"something else"


def test_404_names_the_url(http_server, tmp_path: Path) -> None:
    url = http_server.url("missing.bin")
    dest = tmp_path / "out" / "missing.bin"
    with pytest.raises(DownloadError) as info:
        download(url, dest, "0" * 32, backoff=0)
    message = str(info.value)
    assert url in message
    assert "404" in message
    assert http_server.count("missing.bin") == 1  # an HTTP error is not retried
    assert not dest.exists()
    assert not (dest.parent / "missing.bin.part").exists()


def test_cli_download_url_success(http_server, tmp_path: Path, capsys) -> None:
    url, data = _serve(http_server)
    dest = tmp_path / "cli" / "data.bin"
    assert main(["download", "url", url, str(dest), "--md5", _md5(data)]) == 0
    assert dest.read_bytes() == data
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("case", ["404", "bad md5"])
def test_cli_download_url_error_is_one_line(http_server, tmp_path: Path, capsys, case) -> None:
    url, data = _serve(http_server)
    if case == "404":
        url = http_server.url("missing.bin")
    dest = tmp_path / "cli" / "data.bin"
    assert main(["download", "url", url, str(dest), "--md5", "f" * 32]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("maac: error: ")
    assert url in lines[0]
    assert "Traceback" not in captured.err
    assert not dest.exists()
    assert not dest.with_name("data.bin.part").exists()
