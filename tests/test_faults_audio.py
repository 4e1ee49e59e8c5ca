"""Bad audio and faults of `maac features` and `maac caption`, each through the real command.

Every case asserts the exit code, the one `maac: error:` line naming the file and what to do,
no traceback, and that nothing outside the command's own output changed (issue 17).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from maac.data.manifest import Clip, write_manifest
from tests.faults import assert_one_line_error, run_maac, tree_digest
from tests.test_inference import parts  # noqa: F401  (the module's tiny trained bundle)

RNG = np.random.default_rng(17)


def _noise(seconds: float, sr: int = 44100) -> np.ndarray:
    return (0.1 * RNG.standard_normal(int(seconds * sr))).astype(np.float32)


def _manifest(root: Path, names: list[str]) -> Path:
    """A manifest of WAVs in ``root/audio`` (absolute paths), written to ``root/m.csv``."""
    clips = [Clip("evaluation", n, root / "audio" / n, (f"caption {i}",) * 5)
             for i, n in enumerate(names)]
    write_manifest(clips, root / "m.csv")
    return root / "m.csv"


def _bad_wavs(folder: Path) -> dict[str, Path]:
    """One good WAV and one of each kind of bad audio."""
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "good.wav", _noise(2.0), 44100, subtype="PCM_16")
    sf.write(folder / "later.wav", _noise(1.5), 44100, subtype="PCM_16")
    wave = _noise(1.0)
    wave[1000] = np.nan
    sf.write(folder / "nan clip.wav", wave, 44100, subtype="FLOAT")
    wave[1000] = np.inf
    sf.write(folder / "inf.wav", wave, 44100, subtype="FLOAT")
    sf.write(folder / "rate1.wav", _noise(3.0), 1, subtype="PCM_16")  # 132300 samples at 1 Hz
    whole = (folder / "good.wav").read_bytes()
    (folder / "truncated.wav").write_bytes(whole[: len(whole) // 2])  # header says 2 s
    return {p.name: p for p in folder.iterdir()}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    _bad_wavs(tmp_path / "audio")
    return tmp_path


def _features(root: Path, names: list[str], *options: str):
    manifest = _manifest(root, names)
    before = tree_digest(root)
    outcome = run_maac(["features", "--manifest", str(manifest), "--out", "out/f.h5",
                        *options], cwd=root)
    return outcome, before


def _nothing_written(root: Path, before: dict[str, str]) -> None:
    after = tree_digest(root)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before
    assert not [k for k in after if k.startswith("out/")], after  # no output, no temp file


@pytest.mark.parametrize(("name", "says"), [
    ("nan clip.wav", "holds NaN or infinite samples"),
    ("inf.wav", "holds NaN or infinite samples"),
    ("rate1.wav", "sample rate 1 Hz is not audio"),
    ("truncated.wav", "truncated: its header declares 176400 bytes of samples but the file "
                      "holds 88178"),
    ("missing.wav", "missing.wav: no such file"),
])
def test_features_stops_at_bad_audio_naming_it(data: Path, name: str, says: str) -> None:
    outcome, before = _features(data, ["good.wav", name, "later.wav"])
    line = assert_one_line_error(outcome, name, says)
    assert "replace" in line or "check the path" in line
    assert "System error" not in line
    _nothing_written(data, before)


@pytest.mark.parametrize(("option", "says"), [
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--batch", "0"], "--batch 0: must be at least 1"),
    (["--hop-length", "0"], "--hop-length 0: 0 is less than the minimum of 1"),
    (["--n-fft", "0"], "--n-fft 0: 0 is less than the minimum of 64"),
    (["--sample-rate", "0"], "--sample-rate 0: 0 is less than the minimum of 8000"),
    (["--n-mels", "0"], "--n-mels 0: 0 is less than the minimum of 8"),
    (["--f-min", "20000"], "--f-min 20000: 20000 is not below audio.f_max (14000)"),
])
def test_features_options_out_of_range(data: Path, option: list[str], says: str) -> None:
    outcome, before = _features(data, ["good.wav"], *option)
    assert_one_line_error(outcome, says)
    _nothing_written(data, before)


def _caption(root: Path, bundle: Path, names: list[str], *options: str):
    before = tree_digest(root)
    outcome = run_maac(["caption", *names, "--model", str(bundle), *options], cwd=root / "audio")
    assert tree_digest(root) == before
    return outcome


def test_caption_reports_a_nan_wav_and_captions_the_files_after_it(
        data: Path, parts: dict[str, Path]) -> None:  # noqa: F811
    """Data loss (issue 17): the files after a NaN WAV were never captioned."""
    outcome = _caption(data, parts["bundle"], ["good.wav", "nan clip.wav", "later.wav"])
    line = assert_one_line_error(outcome, "nan clip.wav", "holds NaN or infinite samples",
                                 "replace or remove it")
    assert outcome.stdout.count("caption:") == 2
    assert outcome.stdout.index("good.wav") < outcome.stdout.index("later.wav")
    assert "nan clip.wav" not in outcome.stdout
    features, _ = _features(data, ["nan clip.wav"])  # the same check gives the same line
    assert [x.split("nan clip.wav")[1] for x in features.error_lines] == [
        line.split("nan clip.wav")[1]]


def test_caption_json_still_prints_every_file(data: Path, parts: dict[str, Path]) -> None:  # noqa: F811
    """Data loss (issue 17): with --json nothing at all was printed after a NaN WAV."""
    import json

    outcome = _caption(data, parts["bundle"], ["good.wav", "nan clip.wav", "later.wav"],
                       "--json")
    assert_one_line_error(outcome, "nan clip.wav", "holds NaN or infinite samples")
    results = json.loads(outcome.stdout)
    assert [r["file"] for r in results] == ["good.wav", "nan clip.wav", "later.wav"]
    assert "caption" in results[0] and "caption" in results[2]
    assert "holds NaN or infinite samples" in results[1]["error"] and "caption" not in results[1]


@pytest.mark.parametrize(("name", "says"), [("rate1.wav", "sample rate 1 Hz is not audio"),
                                            ("missing.wav", "missing.wav: no such file")])
def test_caption_reports_unreadable_audio_on_one_line(data: Path, parts: dict[str, Path],  # noqa: F811
                                                      name: str, says: str) -> None:
    outcome = _caption(data, parts["bundle"], [name, "good.wav"])
    assert_one_line_error(outcome, name, says)
    assert outcome.stdout.count("caption:") == 1


def _long_split(root: Path, clips: int, seconds: float) -> list[str]:
    """``clips`` names of one synthesised WAV (hard links: no disk space per clip)."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    sf.write(root / "audio" / "clip0.wav", _noise(seconds), 44100, subtype="PCM_16")
    for i in range(1, clips):
        os.link(root / "audio" / "clip0.wav", root / "audio" / f"clip{i}.wav")
    return [f"clip{i}.wav" for i in range(clips)]


def test_a_killed_run_leaves_a_temp_file_that_the_rerun_removes(tmp_path: Path) -> None:
    names = _long_split(tmp_path, 400, 10.0)
    manifest = _manifest(tmp_path, names)
    before = tree_digest(tmp_path / "audio")
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.Popen(["maac", "features", "--manifest", str(manifest), "--out",
                            str(out / "f.h5"), "--batch", "1"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and run.poll() is None:
            temps = list(out.glob(".f.h5.*.h5.tmp")) if out.is_dir() else []
            if temps and temps[0].stat().st_size > 1 << 20:  # some batches written
                break
            time.sleep(0.2)
        assert run.poll() is None, "maac features ended before it could be killed"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        run.kill()
    left = list(out.glob(".f.h5.*.h5.tmp"))
    assert len(left) == 1 and not (out / "f.h5").exists()
    other = out / ".g.h5.abcdefgh.h5.tmp"  # another output's temp file: not this step's
    other.write_bytes(b"x")
    _manifest(tmp_path, names[:3])
    rerun = run_maac(["features", "--manifest", str(manifest), "--out", str(out / "f.h5")],
                     cwd=tmp_path)
    assert rerun.code == 0, rerun.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [other.name, "f.h5"]
    assert tree_digest(tmp_path / "audio") == before


def _in_tiny_filesystem(root: Path, size: str, command: str) -> subprocess.CompletedProcess:
    """``command`` (sh) with ``root/out`` a tmpfs of ``size``, in a user and mount namespace:
    a real full disk without root. The listing of out/ after the command ends the output."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed: no tiny filesystem without root")
    (root / "out").mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs {root}/out"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no user namespaces here, so no tiny filesystem: {probe.stderr.strip()}")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MAAC_DEBUG", None)
    script = (f"mount -t tmpfs -o size={size} tmpfs out && {command}; "
              "echo \"exit=$?\"; echo LISTING; ls -A out")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


def _full_disk_outcome(done: subprocess.CompletedProcess) -> tuple[int, str, list[str]]:
    head, _, listing = done.stdout.rpartition("LISTING\n")
    code = int(head.rsplit("exit=", 1)[1])
    return code, done.stderr, listing.split()


def test_full_disk_during_features_is_one_line(tmp_path: Path) -> None:
    """A 2 MB filesystem: the first batches fit, a later one does not (checked before HDF5
    writes it)."""
    names = _long_split(tmp_path, 30, 5.0)  # 3.8 MB of features
    manifest = _manifest(tmp_path, names)
    before = tree_digest(tmp_path)
    done = _in_tiny_filesystem(tmp_path, "2m", f"maac features --manifest {manifest} "
                                               "--out out/f.h5 --batch 1")
    code, stderr, listing = _full_disk_outcome(done)
    assert code == 1 and "Traceback" not in stderr and "Segmentation" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("maac: error:")]
    assert len(lines) == 1 and "disk full writing out/f.h5" in lines[0], stderr
    assert "free space" in lines[0]
    assert listing == []  # no output, no temp file
    assert {k: v for k, v in tree_digest(tmp_path).items() if k != "out"} == before


def test_full_disk_met_by_hdf5_itself_is_one_line(tmp_path: Path) -> None:
    """The same without the free-space check (an in-process patch of that check only): HDF5's
    own write meets ENOSPC; the command must still end in one line, not a segfault."""
    names = _long_split(tmp_path, 30, 5.0)  # 3.8 MB of features
    manifest = _manifest(tmp_path, names)
    before = tree_digest(tmp_path)
    code = ("import sys; import maac.audio.feature_store as fs; "
            "fs._check_space = lambda *args: None; from maac.cli.main import main; "
            f"sys.exit(main(['features', '--manifest', '{manifest}', '--out', 'out/f.h5', "
            "'--batch', '1']))")
    done = _in_tiny_filesystem(tmp_path, "1m", f"{sys.executable} -c \"{code}\"")
    exit_code, stderr, listing = _full_disk_outcome(done)
    assert exit_code == 1 and "Segmentation" not in stderr and "Traceback" not in stderr, stderr
    lines = [x for x in stderr.splitlines() if x.startswith("maac: error:")]
    assert lines == ["maac: error: disk full writing out/f.h5; free space on its disk (or "
                     "choose another --out) and rerun"], stderr
    assert listing == []
    assert {k: v for k, v in tree_digest(tmp_path).items() if k != "out"} == before
