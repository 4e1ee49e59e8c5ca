"""dataset.source: local: a Clotho-format folder on disk, in Clotho's layout or aac-datasets',
checked and read in place by the real DAG, and left byte-identical."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from maac import paths
from maac.cli.main import main
from maac.cli.summary import summarize
from maac.config import load_config
from maac.data.local import LocalDatasetError, check_local, find_local
from maac.data.manifest import read_manifest
from maac.data.synth import SPLITS, synthesize
from tests.conftest import CLOTHO_REF, REPO, load_yaml
from tests.test_workflow import snakemake

CLIPS = {"development": 5, "validation": 4, "evaluation": 4}


def tree(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` and a marker for every folder, by relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


def clotho_folder(out: Path) -> Path:
    """A synthetic dataset in Clotho's layout (what `maac synth` writes)."""
    synthesize(out, CLIPS, seconds=1.0, seed=3, progress=False)
    return out


def aac_datasets_folder(clotho: Path, root: Path) -> Path:
    """The same files as aac-datasets lays them out: root/CLOTHO_v2.1/clotho_{csv,audio}_files."""
    base = root / "CLOTHO_v2.1"
    (base / "clotho_csv_files").mkdir(parents=True)
    for csv_file in clotho.glob("clotho_*.csv"):
        shutil.copy2(csv_file, base / "clotho_csv_files" / csv_file.name)
    for split in SPLITS:
        shutil.copytree(clotho / split, base / "clotho_audio_files" / split)
    return root


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clotho_folder(tmp_path_factory.mktemp("local") / "clotho")


def local_config(tmp_path: Path, path: Path, **local: str) -> Path:
    """demo.yaml with source: local on ``path`` (md5: skip, the synthetic CSVs are not Clotho's)."""
    config = load_yaml(REPO / "config" / "demo.yaml")
    config["run"] = "localrun"
    config["dataset"].update(name="mine", source="local",
                             local={"path": str(path), "md5": "skip", **local})
    out = tmp_path / "local.yaml"
    out.write_text(yaml.safe_dump(config), encoding="utf-8")
    return out


def data_layer(dataset: str) -> list[str]:
    """The targets of the data layer: every manifest and the split audit."""
    return [str(paths.manifest_csv(dataset, s)) for s in SPLITS] + [
        str(paths.audit_json(dataset)), str(paths.audit_csv(dataset))]


@pytest.mark.integration
def test_dag_reads_an_aac_datasets_folder_in_place(
    synth_dir: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    root = aac_datasets_folder(synth_dir, tmp_path / "aac")
    before = tree(root)
    work = tmp_path / "work"
    work.mkdir()
    config = local_config(tmp_path, root)  # layout: auto; the root, not CLOTHO_v2.1/
    run = snakemake(["--cores", "2", *data_layer("mine"), "--configfile", str(config)], work,
                    cli_env)
    log = run.stdout + run.stderr
    assert "rule local_check:" in log and "rule audit:" in log
    assert "synthesize" not in log and "download" not in log
    assert tree(root) == before, "the local folder changed"
    base = root / "CLOTHO_v2.1"
    for split in SPLITS:
        clips = read_manifest(work / paths.manifest_csv("mine", split)).values()
        assert len(clips) == CLIPS[split]
        assert {c.audio_path.parent for c in clips} == {base / "clotho_audio_files" / split}
    check = json.loads((work / paths.local_check_json("mine")).read_text())
    assert check["layout"] == "aac-datasets" and check["root"] == base.as_posix()
    assert check["splits"]["validation"]["clips"] == CLIPS["validation"]
    audit = json.loads((work / paths.audit_json("mine")).read_text())
    assert audit["audio"]["cross_split_groups"] == []  # the shared name holds two clips
    assert audit["sound_id"]["checked"] and audit["sound_id"]["cross_split_groups"] == []
    assert "split audit ok" in (work / "logs/localrun/data/audit.log").read_text()

    again = snakemake(["-n", "--cores", "1", *data_layer("mine"), "--configfile", str(config)],
                      work, cli_env)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.integration
def test_readme_command_dry_run_shows_the_local_branch_and_lints_clean(
    synth_dir: Path, tmp_path: Path, paper_config: dict, cli_env: dict[str, str]
) -> None:
    """The README's override of config/config.yaml: the md5 sums of the Zenodo CSVs are passed
    to local_check, no download or extraction job is left, the rules lint clean."""
    override = ["--config", f"dataset={{source: local, local: {{path: {synth_dir}}}}}"]
    dry = snakemake(["-n", "-p", "--cores", "1", *override], REPO, cli_env)
    out = dry.stdout + dry.stderr
    md5 = paper_config["dataset"]["zenodo"]["files"]["clotho_captions_development.csv"]
    assert f"maac local-check {synth_dir}" in out
    assert "--official" in out and f"--md5 clotho_captions_development.csv={md5}" in out
    assert f"--captions {synth_dir}/clotho_captions_validation.csv" in out
    assert "download_clotho" not in out and "extract_clotho_audio" not in out
    lint = snakemake(["--lint", *override], REPO, cli_env)
    assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr


def test_both_layouts_are_found_and_a_wrong_folder_is_one_line(
    synth_dir: Path, tmp_path: Path
) -> None:
    found = find_local(synth_dir, "auto", SPLITS)
    assert (found.layout, found.root) == ("clotho", synth_dir)
    assert found.metadata_csv("development") == synth_dir / "clotho_metadata_development.csv"
    root = aac_datasets_folder(synth_dir, tmp_path / "aac")
    for path in (root, root / "CLOTHO_v2.1"):
        found = find_local(path, "auto", SPLITS)
        assert (found.layout, found.root) == ("aac-datasets", root / "CLOTHO_v2.1")
        assert found.audio_dir("evaluation") == root / "CLOTHO_v2.1/clotho_audio_files/evaluation"
    with pytest.raises(LocalDatasetError, match="clotho layout in .*no clotho_captions_dev"):
        find_local(root, "clotho", SPLITS)
    (root / "CLOTHO_v2.1" / "clotho_audio_files" / "validation").rename(tmp_path / "moved")
    with pytest.raises(LocalDatasetError) as err:
        find_local(root, "auto", SPLITS)
    message = str(err.value)
    assert "\n" not in message and "not a Clotho-format folder" in message
    assert "clotho_audio_files/validation/" in message
    assert find_local(root, "auto", ["development"]).layout == "aac-datasets"  # only its splits
    with pytest.raises(LocalDatasetError, match="no such folder"):
        find_local(tmp_path / "nowhere", "auto", SPLITS)


def test_dag_stops_at_parse_time_on_a_folder_of_no_layout(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "empty" / "development").mkdir(parents=True)
    config = local_config(tmp_path, tmp_path / "empty")
    result = snakemake(["-n", "--cores", "1", "--configfile", str(config)], tmp_path, cli_env,
                       check=False)
    assert result.returncode != 0
    assert "not a Clotho-format folder" in result.stdout + result.stderr


def official_folder(tmp_path: Path) -> Path:
    """Clotho v2.1's real caption CSVs (../shared) beside empty split folders."""
    folder = tmp_path / "official"
    for split in SPLITS:
        (folder / split).mkdir(parents=True)
        shutil.copy2(CLOTHO_REF / "captions" / f"clotho_captions_{split}.csv", folder)
    return folder


@pytest.mark.skipif(not (CLOTHO_REF / "captions").is_dir(),
                    reason=f"real Clotho caption CSVs not present at {CLOTHO_REF}/captions")
def test_real_clotho_csvs_pass_the_md5_check_and_a_changed_one_fails(
    tmp_path: Path, paper_config: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = official_folder(tmp_path)
    before = tree(folder)
    files = paper_config["dataset"]["zenodo"]["files"]
    report = check_local(find_local(folder, "auto", SPLITS), True, files)
    assert [report["splits"][s]["captions_md5_checked"] for s in SPLITS] == [True] * 3
    assert report["splits"]["development"]["clips"] == 3839
    assert report["splits"]["evaluation"]["captions_md5"] == files[
        "clotho_captions_evaluation.csv"]
    assert tree(folder) == before

    changed = folder / "clotho_captions_validation.csv"
    changed.write_bytes(changed.read_bytes().replace(b" a ", b" the ", 1))  # a caption's word
    md5s = [f"--md5={n}={m}" for n, m in files.items() if n.endswith(".csv")]
    out = tmp_path / "check.json"
    assert main(["local-check", str(folder), "--official", *md5s, "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and str(changed) in error
    assert "dataset.local.md5: skip" in error and not out.exists()
    # the same folder as another dataset: not checked, described
    assert main(["local-check", str(folder), "--out", str(out)]) == 0
    assert "md5 sums not checked" in capsys.readouterr().out
    assert "captions_md5_checked" not in json.loads(out.read_text())["splits"]["validation"]


def test_summary_names_the_local_folder(synth_dir: Path, tmp_path: Path) -> None:
    config = load_config(local_config(tmp_path, synth_dir, layout="clotho"))
    text = summarize(config)
    assert f"raw data:   {synth_dir} (local, read in place; layout clotho, md5 skip)" in text
    assert "Split audit: (not run yet" in text


def test_manifest_rows_keep_the_csv_names_of_the_folder(synth_dir: Path, tmp_path: Path) -> None:
    """The manifest of a local split lists the folder's own files (the `&amp;` row too)."""
    found = find_local(synth_dir, "auto", SPLITS)
    out = tmp_path / "development.csv"
    assert main(["manifest", "--split", "development", "--captions",
                 str(found.captions_csv("development")), "--audio-dir",
                 str(found.audio_dir("development")), "--out", str(out)]) == 0
    with found.captions_csv("development").open(encoding="utf-8") as f:
        names = [row["file_name"] for row in csv.DictReader(f)]
    clips = read_manifest(out)
    assert [name for _, name in clips] == names
    assert all(c.audio_path.is_file() and c.audio_path.parent == synth_dir / "development"
               for c in clips.values())
