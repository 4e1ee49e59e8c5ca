"""Bad input and faults of ``maac download``, ``maac extract`` and ``maac synth`` (issue 17).

Every case runs the real ``maac`` command in a subprocess (tests/faults.py) and asserts the exit
code, one ``maac: error:`` line naming the file and what to do, no traceback, and that nothing
outside the command's own output changed. A full or read-only disk is a real small tmpfs,
mounted in a private mount namespace (``unshare -rm``, no root needed where user namespaces
are allowed); those cases are skipped where ``unshare`` cannot do it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import py7zr
import pytest

from maac.atomic import MARKER
from tests.faults import Outcome, assert_one_line_error, run_maac, tree_digest
from tests.helpers_http import http_server_fixture  # noqa: F401

MD5 = "0" * 32
SMALL = ["--clips", "development=2,validation=1,evaluation=1", "--seconds", "0.5"]


def _archive(path: Path, entries: dict[str, bytes] | None = None) -> Path:
    entries = {"development/a.wav": b"RIFF a" * 50} if entries is None else entries
    with py7zr.SevenZipFile(path, "w") as z:
        for name, data in entries.items():
            z.writestr(data, name)
    return path


def _user_files(folder: Path) -> Path:
    """A folder of someone's own files (a thesis, CSVs) that no command may touch."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.tex").write_text("my only copy\n", encoding="utf-8")
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_text("x\n", encoding="utf-8")
    return folder


def _refused(cwd: Path, args: list[str], *names: str) -> str:
    """``maac ARGS`` in ``cwd`` fails with one line naming ``names``; nothing in ``cwd`` changes."""
    before = tree_digest(cwd)
    line = assert_one_line_error(run_maac(args, cwd), *names)
    assert tree_digest(cwd) == before
    return line


# --- data loss: a folder holding files is never emptied -------------------------------------


def test_extract_refuses_a_folder_holding_another_users_files(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "clotho_audio_development.7z")
    _user_files(tmp_path / "theirs")
    _refused(tmp_path, ["extract", str(archive), "theirs", "--strip", "development"],
             "theirs", "did not write", "(e.g. '", "new or empty folder")


def test_extract_refuses_the_archives_own_folder(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    archive = _archive(raw / "clotho_audio_development.7z")
    (raw / "clotho_captions_development.csv").write_text("file_name\n", encoding="utf-8")
    _refused(tmp_path, ["extract", str(archive), "raw"],
             "raw", str(archive), "extract into a new folder", "raw/clotho_audio_development")


def test_extract_refuses_the_archive_itself_as_output(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "clotho_audio_development.7z")
    _refused(tmp_path, ["extract", archive.name, archive.name],
             archive.name, "extract into a new folder")
    assert archive.is_file()


def test_synth_refuses_a_folder_holding_another_users_files(tmp_path: Path) -> None:
    _user_files(tmp_path / "theirs")
    _refused(tmp_path, ["synth", "theirs", *SMALL], "theirs", "maac synth did not write",
             "move them away")


def test_synth_refuses_a_file_as_output(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    _refused(tmp_path, ["synth", "data.csv", *SMALL], "data.csv", "is not a folder",
             "give a new folder path")


@pytest.mark.parametrize("seconds", ["0", "-1", "nan"])
def test_synth_refuses_a_clip_length_that_is_not_positive(tmp_path: Path, seconds: str) -> None:
    _refused(tmp_path, ["synth", "demo", "--seconds", seconds], f"--seconds {seconds}",
             "above 0 seconds")


def test_own_earlier_output_is_replaced_and_said(tmp_path: Path) -> None:
    first = run_maac(["synth", "demo", *SMALL], tmp_path)
    assert first.code == 0, first.stderr
    marker = json.loads((tmp_path / "demo" / MARKER).read_text(encoding="utf-8"))
    assert marker["written_by"] == "maac synth"
    assert "clotho_captions_development.csv" in marker["files"]
    digest = tree_digest(tmp_path / "demo")
    (tmp_path / "demo" / ".snakemake_timestamp").touch()  # as a DAG run leaves it
    again = run_maac(["synth", "demo", *SMALL], tmp_path)
    assert again.code == 0, again.stderr
    assert "replacing the earlier output of maac synth" in again.stderr
    assert tree_digest(tmp_path / "demo") == digest  # same seed, same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary left


def test_own_earlier_output_with_a_users_file_added_is_refused(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.7z")
    assert run_maac(["extract", "a.7z", "out", "--strip", "development"], tmp_path).code == 0
    (tmp_path / "out" / "my labels.csv").write_text("mine\n", encoding="utf-8")
    _refused(tmp_path, ["extract", str(archive), "out", "--strip", "development"],
             "out", "'my labels.csv'", "not part of the earlier maac extract", "move it away")


def test_extract_into_an_empty_folder_works(tmp_path: Path) -> None:
    _archive(tmp_path / "a.7z")
    (tmp_path / "out").mkdir()
    done = run_maac(["extract", "a.7z", "out", "--strip", "development"], tmp_path)
    assert done.code == 0, done.stderr
    assert (tmp_path / "out" / "a.wav").is_file()


# --- download ---------------------------------------------------------------------------------


def test_download_upper_case_md5_keeps_the_right_file(http_server, tmp_path: Path) -> None:
    data = b"checkpoint bytes" * 1000
    (http_server.root / "f.bin").write_bytes(data)
    md5 = hashlib.md5(data).hexdigest().upper()
    done = run_maac(["download", "url", http_server.url("f.bin"), "out/f.bin", "--md5", md5],
                    tmp_path)
    assert done.code == 0, done.stderr
    assert (tmp_path / "out" / "f.bin").read_bytes() == data
    again = run_maac(["download", "url", http_server.url("f.bin"), "out/f.bin", "--md5", md5],
                     tmp_path)
    assert again.code == 0 and http_server.count() == 1  # present, md5 ok: not fetched again


def test_download_bad_md5_form_fails_before_any_request(http_server, tmp_path: Path) -> None:
    (http_server.root / "f.bin").write_bytes(b"data")
    _refused(tmp_path, ["download", "url", http_server.url("f.bin"), "f.bin", "--md5",
                        "notahash"], "--md5", "'notahash'", "32 hexadecimal digits")
    assert http_server.requests == []


@pytest.mark.parametrize("url", ["ftp://example.org/f.bin", "not a url", "http://[::1",
                                 "file:///etc/hostname", "http:///f.bin"])
def test_download_refuses_a_url_that_is_not_http(tmp_path: Path, url: str) -> None:
    _refused(tmp_path, ["download", "url", url, "f.bin", "--md5", MD5], repr(url),
             "not an http(s) URL")


def test_download_refuses_a_folder_as_output(http_server, tmp_path: Path) -> None:
    _user_files(tmp_path / "pretrained")
    _refused(tmp_path, ["download", "url", http_server.url("f.bin"), "pretrained", "--md5", MD5],
             "pretrained", "is a folder", "pretrained/NAME")
    assert http_server.requests == []


def test_refused_connection_keeps_no_part_and_says_so(tmp_path: Path) -> None:
    line = _refused(tmp_path, ["download", "url", "http://127.0.0.1:9/f.bin", "f.bin", "--md5",
                               MD5, "--retries", "1"],
                    "http://127.0.0.1:9/f.bin", "connection refused", "nothing was written")
    assert "kept" not in line  # and no f.bin.part: the folder is unchanged


# --- extract ----------------------------------------------------------------------------------


def test_extract_into_the_current_folder_is_refused(tmp_path: Path) -> None:
    _archive(tmp_path / "a.7z")
    _refused(tmp_path, ["extract", "a.7z", "."], "a.7z", "extract into a new folder")
    sub = tmp_path / "empty"  # '.' without the archive in it
    sub.mkdir()
    _refused(sub, ["extract", "../a.7z", "."], ".: is the current folder",
             "give a new folder such as out")


def test_extract_of_a_folder_is_refused(tmp_path: Path) -> None:
    _user_files(tmp_path / "audio")
    _refused(tmp_path, ["extract", "audio", "out"], "audio", "is a folder, not a 7z archive",
             "give the .7z file")


def test_extract_of_a_missing_archive_says_not_found(tmp_path: Path) -> None:
    line = _refused(tmp_path, ["extract", "clotho_audio_development.7z", "out"],
                    "clotho_audio_development.7z", "not found")
    assert "not a 7z archive" not in line


def test_extract_of_an_empty_archive_is_an_error(tmp_path: Path) -> None:
    _archive(tmp_path / "empty.7z", {})
    _refused(tmp_path, ["extract", "empty.7z", "out"], "empty.7z", "holds no files",
             "download again")


def test_extract_with_a_wrong_strip_names_what_is_there(tmp_path: Path) -> None:
    _archive(tmp_path / "clotho_audio_validation.7z",
             {"development/a.wav": b"a", "development/b.wav": b"b"})
    _refused(tmp_path, ["extract", "clotho_audio_validation.7z", "validation", "--strip",
                        "validation"],
             "clotho_audio_validation.7z", "--strip 'validation'", "holds 'development'",
             "give --strip the right name")


# --- leftovers of killed runs -----------------------------------------------------------------


def _killed_inside_output_dir(parent: Path, name: str, command: str) -> None:
    """Start the command's own output-folder code in a process and SIGKILL it halfway."""
    code = (
        "import os, signal, sys\n"
        "from maac.atomic import command_output_dir\n"
        "with command_output_dir(sys.argv[1], sys.argv[2]) as tmp:\n"
        "    (tmp / 'half.wav').write_bytes(b'x' * 100000)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(parent / name), command],
                          capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_extract_rerun_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    _archive(tmp_path / "a.7z")
    _user_files(tmp_path / "mine")
    (tmp_path / ".out.my-own-hidden-folder").mkdir()  # looks alike, is not a temporary: kept
    _killed_inside_output_dir(tmp_path, "out", "maac extract")
    leftover = [n for n in _hidden(tmp_path) if n.startswith(".out.tmp-")]
    assert len(leftover) == 1, _hidden(tmp_path)
    before = tree_digest(tmp_path / "mine")
    done = run_maac(["extract", "a.7z", "out", "--strip", "development"], tmp_path)
    assert done.code == 0, done.stderr
    assert "left by an earlier run that was killed" in done.stderr
    assert _hidden(tmp_path) == [".out.my-own-hidden-folder"]
    assert (tmp_path / "out" / "a.wav").is_file()
    assert tree_digest(tmp_path / "mine") == before


def test_synth_rerun_after_a_real_sigkill_cleans_up(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(
        ["maac", "synth", "demo", "--clips", "development=400,validation=1,evaluation=1",
         "--seconds", "1"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # wait until it has written a few clips
            temps = list(tmp_path.glob(".demo.tmp-*/development/*.wav"))
            if len(temps) >= 3:
                break
            assert proc.poll() is None, "maac synth ended before it could be killed"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(temps) >= 3
    assert [n for n in _hidden(tmp_path) if n.startswith(".demo.tmp-")], _hidden(tmp_path)
    assert not (tmp_path / "demo").exists()
    done = run_maac(["synth", "demo", *SMALL], tmp_path)
    assert done.code == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    assert (tmp_path / "demo" / MARKER).is_file()


# --- a full or read-only disk (a real small tmpfs) -------------------------------------------

_DIGEST = (
    "import hashlib, json, os, sys\n"
    "root = sys.argv[1]\n"
    "out = {}\n"
    "for d, dirs, files in os.walk(root):\n"
    "    for f in files:\n"
    "        p = os.path.join(d, f)\n"
    "        out[os.path.relpath(p, root)] = hashlib.sha256(open(p, 'rb').read()).hexdigest()\n"
    "    for s in dirs:\n"
    "        out[os.path.relpath(os.path.join(d, s), root)] = 'dir'\n"
    "print(json.dumps(out, sort_keys=True))\n"
)

_SCRIPT = """
set -e
mount -t tmpfs -o size="$SIZE" maac-test "$MNT"
cd "$MNT"
eval "$SETUP"
if [ "$READONLY" = 1 ]; then mount -o remount,ro "$MNT"; fi
"$PY" -c "$DIGEST" "$MNT" > "$OUTSIDE/before.json"
set +e
maac "$@" > "$OUTSIDE/stdout" 2> "$OUTSIDE/stderr"
echo $? > "$OUTSIDE/rc"
set -e
"$PY" -c "$DIGEST" "$MNT" > "$OUTSIDE/after.json"
"""


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


small_disk = pytest.mark.skipif(not _unshare_works(),
                                reason="unshare -rm (a private tmpfs) is not allowed here")


def _on_small_disk(tmp_path: Path, args: list[str], size: str = "1m", setup: str = "",
                   readonly: bool = False) -> tuple[Outcome, dict, dict]:
    """Run ``maac ARGS`` in a fresh tmpfs of ``size`` (cwd) after the shell ``setup``; return
    the outcome and the tmpfs digests before and after the command."""
    mnt, outside = tmp_path / "disk", tmp_path / "outside"
    mnt.mkdir()
    outside.mkdir()
    env = dict(os.environ, SIZE=size, MNT=str(mnt), OUTSIDE=str(outside), SETUP=setup,
               READONLY=str(int(readonly)), PY=sys.executable, DIGEST=_DIGEST,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MAAC_DEBUG", None)
    done = subprocess.run(["unshare", "-rm", "bash", "-c", _SCRIPT, "bash", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    outcome = Outcome(int((outside / "rc").read_text()), (outside / "stdout").read_text(),
                      (outside / "stderr").read_text())
    before = json.loads((outside / "before.json").read_text())
    after = json.loads((outside / "after.json").read_text())
    return outcome, before, after


@small_disk
def test_synth_on_a_full_disk_is_one_line(tmp_path: Path) -> None:
    out, before, after = _on_small_disk(
        tmp_path, ["synth", "demo", "--clips", "development=20,validation=2,evaluation=2",
                   "--seconds", "2"], size="1m", setup="echo mine > mine.txt")
    assert_one_line_error(out, "disk full writing demo", "free some space")
    assert after == before  # neither demo nor its temporary folder is left; mine.txt intact
    assert "mine.txt" in after


@small_disk
def test_synth_on_a_read_only_disk_is_one_line(tmp_path: Path) -> None:
    out, before, after = _on_small_disk(tmp_path, ["synth", "demo", *SMALL],
                                        setup="echo mine > mine.txt", readonly=True)
    assert_one_line_error(out, "cannot write demo", "read-only file system")
    assert after == before


@small_disk
def test_download_on_a_full_disk_keeps_the_part_to_resume(http_server, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    (http_server.root / "big.bin").write_bytes(data)
    out, before, after = _on_small_disk(
        tmp_path, ["download", "url", http_server.url("big.bin"), "big.bin", "--md5",
                   hashlib.md5(data).hexdigest()], size="1m", setup="echo mine > mine.txt")
    assert_one_line_error(out, "disk full writing big.bin.part", "is kept, run again to resume")
    assert after.pop("big.bin.part")  # the command's own partial file
    assert after == before


@small_disk
def test_download_on_a_read_only_folder_fails_before_fetching(http_server, tmp_path: Path) -> None:
    (http_server.root / "f.bin").write_bytes(b"data")
    out, before, after = _on_small_disk(
        tmp_path, ["download", "url", http_server.url("f.bin"), "pretrained/f.bin", "--md5",
                   MD5], setup="mkdir pretrained", readonly=True)
    assert_one_line_error(out, "cannot write pretrained/f.bin", "pretrained is not writable")
    assert http_server.requests == []
    assert after == before


@small_disk
def test_extract_space_check_shows_the_real_numbers(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "zeros.7z", {"development/z.wav": bytes(3_000_000)})
    out, before, after = _on_small_disk(
        tmp_path, ["extract", str(archive), "development", "--strip", "development"],
        size="1m")
    assert_one_line_error(out, str(archive), "needs 3.15 MB to extract", "has 1.05 MB free",
                          "free some space")
    assert after == before
