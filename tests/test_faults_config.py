"""Bad configs (issue 17): each fails every command that loads it with one line naming the file
and the key, and changes nothing; what a person writes (``lr: 3e-3``) is accepted, by the
``maac`` command and by Snakemake alike."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from maac.config import load_config
from tests.conftest import REPO
from tests.faults import assert_one_line_error, run_maac, tree_digest

DEMO = REPO / "config" / "demo.yaml"


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# (case, edit of config/demo.yaml's text, strings the error line must hold)
BAD = {
    "f_min above f_max": (("f_min: 50", "f_min: 15000"),
                          ["key 'audio.f_min'", "15000", "audio.f_max (14000)"]),
    "f_max above Nyquist": (("f_max: 14000", "f_max: 20000"),
                            ["key 'audio.f_max'", "Nyquist frequency 16000 Hz", "lower f_max"]),
    "lr nan": (("lr: 3.0e-3", "lr: .nan"),
               ["key 'captioner.ce.lr'", "nan is not a finite number"]),
    "lr inf": (("lr: 5.0e-5", "lr: .inf"),
               ["key 'captioner.rl.lr'", "inf is not a finite number"]),
    "grad_clip inf": (("grad_clip: 2.0", "grad_clip: .inf"),
                      ["key 'training.grad_clip'", "inf is not a finite number"]),
    "duplicate key": (("lr: 3.0e-3", "lr: 3.0e-3\n    lr: 1.0e-3"),
                      ["key 'captioner.ce.lr' appears twice", "keep one", "line "]),
    "duplicate section": (("decoding:\n", "decoding: {beam_size: 2}\ndecoding:\n"),
                          ["key 'decoding' appears twice"]),
    "window above n_fft": (("win_length: 1024", "win_length: 2048"),
                           ["key 'audio.win_length'", "audio.n_fft (1024)"]),
    "hop above window": (("hop_length: 320", "hop_length: 2000"),
                         ["key 'audio.hop_length'", "skip samples"]),
    "empty mel bands": (("n_mels: 64", "n_mels: 256"),
                        ["key 'audio.n_mels'", "hold no FFT bin", "raise n_fft"]),
    "top keywords above count": (("top_keywords: 5", "top_keywords: 50"),
                                 ["key 'captioner.top_keywords'", "text.keywords.count (40)"]),
    "lr as text": (("lr: 3.0e-3", "lr: fast"),
                   ["key 'captioner.ce.lr'", "'fast' is not of type 'number'"]),
}


def _write_bad(tmp_path: Path, case: str) -> tuple[Path, list[str]]:
    (old, new), expected = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(_edit(DEMO.read_text(encoding="utf-8"), old, new), encoding="utf-8")
    return path, expected


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_fails_config_check(tmp_path: Path, case: str) -> None:
    path, expected = _write_bad(tmp_path, case)
    before = tree_digest(tmp_path)
    outcome = run_maac(["config", "check", str(path)], tmp_path)
    assert_one_line_error(outcome, str(path), *expected)
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize(("case", "command"), [
    ("f_min above f_max", ["summary"]),
    ("duplicate key", ["summary"]),
    ("lr nan", ["text", "keywords", "captions.csv"]),
    ("f_max above Nyquist", ["model", "params"]),
])
def test_every_command_loading_the_config_fails_the_same(
    tmp_path: Path, case: str, command: list[str]
) -> None:
    """Commands read configs through the one loader: the same line as `maac config check`."""
    path, expected = _write_bad(tmp_path, case)
    (tmp_path / "captions.csv").write_text(
        "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
        "a.wav,a dog barks,a dog barks,a dog barks,a dog barks,a dog barks\n", encoding="utf-8")
    before = tree_digest(tmp_path)
    outcome = run_maac([*command, "--config", str(path)], tmp_path)
    assert_one_line_error(outcome, str(path), *expected)
    assert tree_digest(tmp_path) == before


def test_config_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    text = _edit(DEMO.read_text(encoding="utf-8"), "run: demo", "run: demo  # Démo")
    path.write_bytes(text.encode("latin-1"))
    before = tree_digest(tmp_path)
    for command in (["config", "check", str(path)], ["summary", "--config", str(path)]):
        outcome = run_maac(command, tmp_path)
        assert_one_line_error(outcome, str(path), "line 5", "not UTF-8", "save the config as UTF-8")
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize(("text", "expected"), [
    ("run: [unclosed\n", ["line 2", "not valid YAML"]),
    ("- just\n- a list\n", ["expected a mapping of keys"]),
    ("", ["expected a mapping of keys"]),
    ("run: !!python/object:os.system x\n", ["line 1", "not valid YAML"]),
])
def test_unreadable_configs_are_one_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    for command in (["config", "check", str(path)], ["summary", "--config", str(path)]):
        assert_one_line_error(run_maac(command, tmp_path), str(path), *expected)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert_one_line_error(run_maac(["config", "check", str(folder)], tmp_path), str(folder),
                          "config file not found")


def test_shipped_configs_pass_config_check(tmp_path: Path) -> None:
    outcome = run_maac(["config", "check", str(DEMO), str(REPO / "config" / "config.yaml")],
                       tmp_path)
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.count(": valid") == 2


def test_numbers_as_people_write_them(tmp_path: Path) -> None:
    """3e-3 and 1e5 are numbers (YAML 1.1 reads them as strings); 1e5 at an integer key is an
    int; the shipped configs load as PyYAML's safe loader reads them."""
    text = _edit(DEMO.read_text(encoding="utf-8"), "lr: 3.0e-3", "lr: 3e-3")
    text = _edit(text, "resamples: 2000", "resamples: 1e5")
    path = tmp_path / "people.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = run_maac(["config", "check", str(path)], tmp_path)
    assert outcome.code == 0, outcome.stderr
    config = load_config(path)
    assert config["captioner"]["ce"]["lr"] == 0.003
    assert config["statistics"]["resamples"] == 100000
    assert type(config["statistics"]["resamples"]) is int
    for name in ("demo.yaml", "config.yaml"):
        with (REPO / "config" / name).open(encoding="utf-8") as f:
            assert load_config(REPO / "config" / name) == yaml.safe_load(f)


def _snakemake_dry_run(
    config: Path, workdir: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "-n", "-p",
         "--cores", "1", "--configfile", str(config)],
        env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_snakemake_reads_the_config_as_maac_does(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`lr: 3e-3` reaches the rules as 0.003; a bad value stops Snakemake with maac's line."""
    good = tmp_path / "good.yaml"
    good.write_text(_edit(DEMO.read_text(encoding="utf-8"), "lr: 3.0e-3", "lr: 3e-3"),
                    encoding="utf-8")
    done = _snakemake_dry_run(good, tmp_path / "work", cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"ce":{"cache_encoder":true,"epochs":30,"label_smoothing":0.1,"lr":0.003,' in done.stdout

    bad, _ = _write_bad(tmp_path, "duplicate key")
    done = _snakemake_dry_run(bad, tmp_path / "work", cli_env)
    line = assert_one_line_error(run_maac(["config", "check", str(bad)], tmp_path), str(bad))
    assert done.returncode != 0
    assert line.removeprefix("maac: error: ") in done.stdout + done.stderr
