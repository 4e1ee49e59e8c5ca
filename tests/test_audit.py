"""The split audit: a recording planted in two splits (same samples under another header, and a
Freesound sound id repeated) is found, by the function and by the real DAG, which carries on."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from maac import paths
from maac.cli.main import main
from maac.data.audit import audio_digest, audit_splits, read_sound_ids, summary_line, table_rows
from maac.data.manifest import build_manifest
from maac.data.synth import SHARED_NAME, SPLITS
from tests.test_local_source import clotho_folder, data_layer, local_config, snakemake, tree

PLANTED = "planted copy.wav"


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def plant_duplicates(folder: Path) -> tuple[str, str]:
    """Copy a development clip into evaluation under another header (WAVEX, same samples) and
    give a validation clip a development clip's sound id. Returns (copied clip, its id)."""
    dev = _rows(folder / "clotho_captions_development.csv")
    source = dev[2][0]  # a name without HTML entities
    samples, rate = sf.read(folder / "development" / source, dtype="int16")
    sf.write(folder / "evaluation" / PLANTED, samples, rate, subtype="PCM_16", format="WAVEX")
    evaluation = _rows(folder / "clotho_captions_evaluation.csv")
    _write_rows(folder / "clotho_captions_evaluation.csv",
                [*evaluation, [PLANTED, *dev[2][1:]]])
    meta_dev = _rows(folder / "clotho_metadata_development.csv")
    sound_id = meta_dev[1][2]
    meta_val = _rows(folder / "clotho_metadata_validation.csv")
    meta_val[1][2] = sound_id
    _write_rows(folder / "clotho_metadata_validation.csv", meta_val)
    return source, sound_id


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, str, str, str]:
    folder = clotho_folder(tmp_path / "clotho")
    source, sound_id = plant_duplicates(folder)
    validation = _rows(folder / "clotho_metadata_validation.csv")[1][0]
    return folder, source, sound_id, validation


def _manifest_clips(folder: Path):
    return [clip for split in SPLITS for clip in build_manifest(
        split, folder / f"clotho_captions_{split}.csv", folder / split)]


def test_planted_duplicates_are_found(planted: tuple[Path, str, str, str]) -> None:
    folder, source, sound_id, validation = planted
    copy, original = folder / "evaluation" / PLANTED, folder / "development" / source
    assert copy.read_bytes() != original.read_bytes()  # other header bytes, same samples
    assert audio_digest(copy) == audio_digest(original)
    metadata = {s: folder / f"clotho_metadata_{s}.csv" for s in SPLITS}
    audit = audit_splits(_manifest_clips(folder), metadata, threads=2)

    groups = audit["audio"]["cross_split_groups"]
    assert [g["clips"] for g in groups] == [[{"split": "development", "file_name": source},
                                             {"split": "evaluation", "file_name": PLANTED}]]
    ids = audit["sound_id"]["cross_split_groups"]
    assert len(ids) == 1 and ids[0]["sound_id"] == sound_id
    assert [c["split"] for c in ids[0]["clips"]] == ["development", "validation"]
    assert ids[0]["clips"][1]["file_name"] == validation
    assert audit["audio"]["within_split_groups"] == audit["sound_id"]["within_split_groups"] == 0
    # the name used in two splits holds two different clips: not a duplicate
    assert not any(c["file_name"] == SHARED_NAME for g in groups for c in g["clips"])

    line = summary_line(audit)
    assert line.startswith("split audit WARNING: 1 audio content(s)") and "\n" not in line
    assert f"development/{source} = evaluation/{PLANTED}" in line
    assert f"1 Freesound sound id(s) in more than one split (e.g. {sound_id}" in line
    assert table_rows(audit) == [
        ["audio content", "development/evaluation/validation", "1", "2",
         f"development/{source} = evaluation/{PLANTED}"],
        ["Freesound sound id", "development/evaluation/validation", "1", "2",
         f"development/{ids[0]['clips'][0]['file_name']} = validation/{validation}"],
    ]


def test_without_metadata_the_sound_ids_are_not_checked(tmp_path: Path) -> None:
    """... and a copy inside one split is counted apart, not as a cross-split duplicate."""
    folder = clotho_folder(tmp_path / "clotho")
    shutil.copy2(folder / "development" / SHARED_NAME, folder / "development" / PLANTED)
    dev = _rows(folder / "clotho_captions_development.csv")
    _write_rows(folder / "clotho_captions_development.csv", [*dev, [PLANTED, *dev[1][1:]]])
    audit = audit_splits(_manifest_clips(folder), {})
    assert audit["audio"]["cross_split_groups"] == [] and not audit["sound_id"]["checked"]
    assert audit["audio"]["within_split_groups"] == 1
    assert "sound ids not checked" in summary_line(audit)
    assert table_rows(audit)[1][2] == "not checked (no metadata CSVs)"


def test_metadata_in_windows_1252_is_read(tmp_path: Path) -> None:
    """Clotho v2.1's metadata CSVs are not UTF-8 (aac-datasets reads them as ISO-8859-1)."""
    path = tmp_path / "clotho_metadata_development.csv"
    path.write_bytes("file_name,keywords,sound_id\nCaf\u00e9 noise.wav,x,123\nb.wav,y,\n"
                     .encode("cp1252"))
    assert read_sound_ids(path, "development") == {"Caf\u00e9 noise.wav": "123"}


@pytest.mark.integration
def test_dag_audits_a_local_folder_and_carries_on(
    planted: tuple[Path, str, str, str], tmp_path: Path, cli_env: dict[str, str]
) -> None:
    folder, source, sound_id, _ = planted
    before = tree(folder)
    work = tmp_path / "work"
    work.mkdir()
    config = local_config(tmp_path, folder)
    snakemake(["--cores", "2", *data_layer("mine"), "--configfile", str(config)], work, cli_env)
    assert tree(folder) == before, "the local folder changed"
    audit = json.loads((work / paths.audit_json("mine")).read_text())
    assert [c["file_name"] for c in audit["audio"]["cross_split_groups"][0]["clips"]] == [
        source, PLANTED]
    assert audit["sound_id"]["cross_split_groups"][0]["sound_id"] == sound_id
    log = (work / "logs/localrun/data/audit.log").read_text()
    assert "split audit WARNING" in log and PLANTED in log
    table = _rows(work / paths.audit_csv("mine"))
    assert table[0] == ["check", "splits", "groups", "clips", "first"]
    assert [row[2] for row in table[1:]] == ["1", "1"]


def test_every_unreadable_file_is_listed_not_fatal(tmp_path: Path) -> None:
    folder = clotho_folder(tmp_path / "clotho")
    broken = folder / "validation" / sorted(p.name for p in (folder / "validation").iterdir())[0]
    broken.write_bytes(b"RIFF0000WAVEnot audio")
    audit = audit_splits(_manifest_clips(folder), {})
    assert audit["audio"]["unreadable"] == [broken.as_posix()]
    assert "1 file(s) could not be decoded" in summary_line(audit)


def test_audit_command_writes_json_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = clotho_folder(tmp_path / "clotho")
    shutil.copy2(folder / "development" / SHARED_NAME, folder / "validation" / PLANTED)
    rows = _rows(folder / "clotho_captions_validation.csv")
    _write_rows(folder / "clotho_captions_validation.csv", [*rows, [PLANTED, *rows[1][1:]]])
    manifests = []
    for split in SPLITS:
        manifests.append(str(tmp_path / f"{split}.csv"))
        assert main(["manifest", "--split", split, "--captions",
                     str(folder / f"clotho_captions_{split}.csv"), "--audio-dir",
                     str(folder / split), "--out", manifests[-1]]) == 0
    capsys.readouterr()
    metadata = f"development={folder / 'clotho_metadata_development.csv'}"
    assert main(["audit", "--manifests", *manifests, "--metadata", metadata, "--out",
                 str(tmp_path / "audit.json"), "--table", str(tmp_path / "audit.csv")]) == 0
    assert "split audit WARNING: 1 audio content(s)" in capsys.readouterr().out
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert audit["sound_id"]["metadata"] == {
        "development": (folder / "clotho_metadata_development.csv").as_posix()}
    assert not audit["sound_id"]["checked"]  # two splits have no metadata
    assert audit["audio"]["within_split_groups"] == 0
    assert main(["audit", "--manifests", *manifests, "--metadata", "test=x.csv", "--out",
                 str(tmp_path / "a.json"), "--table", str(tmp_path / "a.csv")]) == 1
    assert "--metadata test=...: not a split" in capsys.readouterr().err
