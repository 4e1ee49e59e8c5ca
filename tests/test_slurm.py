"""The SLURM profile: every rule has its resources, and the DAG really runs under SLURM.

Two kinds of checks:
- dry runs of `snakemake --profile workflow/profiles/slurm -n` (no SLURM needed): every job of
  the Clotho DAG is listed with the profile's memory, runtime and threads, account and
  partitions come from the environment, training rules ask for a GPU;
- a real run on a one-node SLURM cluster started on localhost (tests/slurm_cluster.py; needs
  root: Debian's slurm-wlm and munge are installed with apt when missing): the demo DAG's
  first stages (synthesize, manifest, features, text) on the tiny config are submitted with
  sbatch through the same profile, each job is found COMPLETED in SLURM's job-completion log,
  and every output equals a local run's. The daemons are stopped by pid whatever happens.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tests.conftest import REPO, data_targets
from tests.slurm_cluster import (
    DEFAULT_PARTITION,
    PARTITION,
    ClusterError,
    LocalSlurm,
    ensure_installed,
)

pytestmark = pytest.mark.integration

PROFILE = REPO / "workflow" / "profiles" / "slurm"
TRAINING_RULES = ["encoder_frozen", "encoder_finetune", "captioner_ce", "captioner_rl"]
LATER_RULES = ["decode", "evaluate", "tables", "bundle"]
CONFIGS = ["config/config.yaml", "config/demo.yaml"]
ENV_KEYS = ("MAAC_SLURM_ACCOUNT", "MAAC_SLURM_PARTITION", "MAAC_SLURM_GPU_PARTITION",
            "SBATCH_ACCOUNT", "SBATCH_PARTITION")


def profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text(encoding="utf-8"))


def clean_env(env: dict[str, str], **values: str) -> dict[str, str]:
    """`env` without any account/partition variable of the caller, plus `values`."""
    env = {k: v for k, v in env.items() if k not in ENV_KEYS and not k.startswith("SLURM_")}
    env.update(values)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n"
                             f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result


def workflow_rules(env: dict[str, str], work: Path) -> set[str]:
    """Every rule of the workflow under either config (the data rules differ)."""
    rules = set()
    for configfile in CONFIGS:
        out = run(["snakemake", "-s", str(REPO / "Snakefile"), "--list-rules", "--configfile",
                   str(REPO / configfile)], work, env).stdout
        rules |= {line.strip() for line in out.splitlines() if line.strip()}
    return rules - {"all"}


def dry_run_jobs(output: str) -> list[dict]:
    """The jobs of a dry run's log: rule name, threads and resources of each.

    A rule with a `message:` directive is printed as "Job N: <message>" instead, without its
    resources; such a job is returned with rule None.
    """
    jobs = []
    for block in re.split(r"^\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\]\n", output, flags=re.M):
        if re.match(r"Job \d+: ", block):
            jobs.append({"rule": None, "message": block.splitlines()[0]})
            continue
        head = re.match(r"(?:local)?rule (\w+):\n", block)
        if not head:
            continue
        threads = re.search(r"^    threads: (\d+)$", block, re.M)
        resources = re.search(r"^    resources: (.*)$", block, re.M)
        jobs.append({
            "rule": head.group(1),
            "threads": int(threads.group(1)) if threads else 1,
            "resources": dict(item.split("=", 1) for item in resources.group(1).split(", "))
            if resources else {},
        })
    return jobs


def job_stats(output: str) -> Counter:
    """The "Job stats" table of a dry run: jobs per rule."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({m.group(1): int(m.group(2))
                    for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)})


@pytest.fixture(scope="module")
def clotho_dry_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`snakemake --profile workflow/profiles/slurm -n --cores 64` on the Clotho config, in an
    empty working directory (so every job is listed), with account/partitions in the env.
    (--cores only lifts the dry run's default of one core, so that threads are shown.)"""
    import sys

    env = clean_env(dict(os.environ), MAAC_SLURM_ACCOUNT="proj_maac",
                    MAAC_SLURM_PARTITION="cpu_part", MAAC_SLURM_GPU_PARTITION="gpu_part")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    work = tmp_path_factory.mktemp("dry")
    result = run(["snakemake", "-s", str(REPO / "Snakefile"), "--profile", str(PROFILE), "-n",
                  "--cores", "64", "--configfile", str(REPO / "config" / "config.yaml")],
                 work, env)
    output = result.stdout + result.stderr
    return {"jobs": dry_run_jobs(output), "stats": job_stats(output)}


def test_profile_names_every_rule_of_the_workflow(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A rule without an entry would silently get the small defaults on the cluster."""
    config = profile()
    rules = workflow_rules(cli_env, tmp_path)
    assert not rules - set(config["set-resources"]), "rules without set-resources in the profile"
    assert not rules - set(config["set-threads"]), "rules without set-threads in the profile"
    for rule in TRAINING_RULES + LATER_RULES:  # declared ahead of the rules themselves
        assert rule in config["set-resources"] and rule in config["set-threads"], rule
    for rule in TRAINING_RULES:
        assert config["set-resources"][rule]["gres"] == "gpu:1", rule
    text = (PROFILE / "config.yaml").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(slurm_account|slurm_partition):\s*['\"]?\w+['\"]?\s*$", text,
                         re.M), "account/partition must come from the environment"
    for rule, res in config["set-resources"].items():  # the plugin rejects --gres there
        assert "--gres" not in str(res.get("slurm_extra", "")), rule


def test_dry_run_shows_every_job_with_its_resources(clotho_dry_run: dict) -> None:
    jobs, stats = clotho_dry_run["jobs"], clotho_dry_run["stats"]
    shown = Counter(job["rule"] for job in jobs if job["rule"])
    hidden = {rule: n - shown[rule] for rule, n in stats.items() if n > shown[rule]}
    assert not hidden, (
        f"the dry run prints these jobs as their `message:` without resources: {hidden}; "
        "Snakemake shows a rule's resources only when it has no message directive")
    assert {"manifest", "features", "text"} <= set(shown)


def test_dry_run_resources_are_the_profiles(clotho_dry_run: dict) -> None:
    config = profile()
    jobs = [job for job in clotho_dry_run["jobs"] if job["rule"] not in (None, "all")]
    assert len(jobs) >= 7
    for job in jobs:
        rule, res = job["rule"], job["resources"]
        wanted = config["set-resources"][rule]
        assert res.get("mem_mb") == str(wanted["mem_mb"]), (rule, res)
        assert res.get("runtime") == str(wanted["runtime"]), (rule, res)
        assert job["threads"] == config["set-threads"][rule], (rule, job)
        assert res.get("slurm_account") == "proj_maac", (rule, res)
        partition = "gpu_part" if "gres" in wanted else "cpu_part"
        assert res.get("slurm_partition") == partition, (rule, res)
        assert res.get("gres") == wanted.get("gres"), (rule, res)


def test_dry_run_gives_the_training_rules_a_gpu(clotho_dry_run: dict) -> None:
    jobs = clotho_dry_run["jobs"]
    missing = [rule for rule in TRAINING_RULES if rule not in clotho_dry_run["stats"]]
    for job in jobs:
        if job["rule"] in TRAINING_RULES:
            assert job["resources"].get("gres") == "gpu:1", job
            assert job["resources"].get("slurm_partition") == "gpu_part", job
    if missing:
        pytest.skip(f"training rules not in the Clotho DAG yet: {', '.join(missing)}")


def test_dry_run_without_environment_leaves_account_and_partition_to_the_cluster(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """No account/partition variable: none is passed, so the plugin (or sbatch) chooses."""
    result = run(["snakemake", "-s", str(REPO / "Snakefile"), "--profile", str(PROFILE), "-n",
                  "--configfile", str(REPO / "config" / "config.yaml")],
                 tmp_path, clean_env(cli_env))
    jobs = [job for job in dry_run_jobs(result.stdout + result.stderr)
            if job["rule"] not in (None, "all")]
    assert jobs
    for job in jobs:
        assert "slurm_account" not in job["resources"], job
        assert "slurm_partition" not in job["resources"], job
        assert "mem_mb" in job["resources"] and "runtime" in job["resources"], job


# -- a real SLURM cluster on localhost --------------------------------------------------------

def _cluster_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slurm")
    if len(str(root / "munge" / "munge.socket")) > 100:  # AF_UNIX paths are short
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="maac-slurm-"))
    return root


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    """munged, slurmctld and slurmd for this module; stopped by pid on success and failure."""
    if os.geteuid() != 0:
        pytest.skip("needs root: installs slurm-wlm/munge with apt and runs slurmctld, slurmd "
                    "and munged (CI runs as root)")
    try:
        print(f"\n[slurm] {ensure_installed()}")
    except ClusterError as e:
        pytest.fail(f"could not install SLURM from Debian's packages: {e}")
    cluster = LocalSlurm(_cluster_root(tmp_path_factory))
    try:
        cluster.start()
        print(f"[slurm] cluster up: {cluster.conf} (pids {cluster.running_pids()})")
        yield cluster
    except ClusterError as e:
        pytest.fail(f"could not start the local SLURM cluster: {e}")
    finally:
        pids = cluster.running_pids()
        cluster.stop()
        print(f"[slurm] stopped pids {pids}")
        assert not cluster.running_pids()


def layered_test_profile(tmp: Path, cpus: int) -> Path:
    """A second profile layered over workflow/profiles/slurm for the one-node test cluster.

    It keeps the repository profile's account/partition expressions (so they are exercised);
    it shrinks memory and runtime, caps threads at the node's CPUs and drops the GPU requests
    (the node has none); it polls squeue (no slurmdbd here) early and often.
    """
    config = profile()
    small = {"mem_mb": 200, "runtime": 15}
    test = {
        "default-resources": {**config["default-resources"], **small},
        "set-resources": {
            rule: {**{k: v for k, v in res.items() if k != "gres"}, **small}
            for rule, res in config["set-resources"].items()
        },
        "set-threads": {rule: min(n, cpus) for rule, n in config["set-threads"].items()},
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "slurm-logdir": str(tmp / "slurm_logs"),
        "slurm-keep-successful-logs": True,
        "latency-wait": 10,
    }
    folder = tmp / "slurm-test-profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    return folder


def assert_same_outputs(local: Path, cluster: Path) -> list[str]:
    """Every file under data/ is equal: byte for byte, HDF5 dataset by dataset."""
    files = sorted(p.relative_to(local) for p in (local / "data").rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(cluster) for p in (cluster / "data").rglob("*") if p.is_file())
    assert files == theirs
    for rel in files:
        a, b = local / rel, cluster / rel
        if rel.suffix == ".h5":
            with h5py.File(a, "r") as ha, h5py.File(b, "r") as hb:
                assert sorted(ha) == sorted(hb), rel
                assert dict(ha.attrs) == dict(hb.attrs), rel
                for name in ha:
                    np.testing.assert_array_equal(ha[name][()], hb[name][()], err_msg=str(rel))
        else:
            assert a.read_bytes() == b.read_bytes(), rel
    return [str(p) for p in files]


def test_demo_stages_run_as_slurm_jobs_and_match_a_local_run(
    slurm: LocalSlurm, tmp_path: Path, tiny_config: Path, cli_env: dict[str, str]
) -> None:
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    local.mkdir()
    cluster.mkdir()
    snakefile = str(REPO / "Snakefile")
    targets = data_targets("tiny")  # the DAG's first stages: data, features, text
    run(["snakemake", "-s", snakefile, "--profile", str(PROFILE.parent / "default"), "--cores",
         "2", *targets, "--configfile", str(tiny_config)], local, clean_env(cli_env))

    # the partition comes from the environment, through the profile's expression: not the
    # cluster's default partition (DEFAULT_PARTITION) where a job without -p would land
    env = slurm.client_env(clean_env(cli_env, MAAC_SLURM_PARTITION=PARTITION))
    extra = layered_test_profile(tmp_path, slurm.cpus())
    start = time.monotonic()
    try:
        result = run(["snakemake", "-s", snakefile, "--profile", str(PROFILE), "--profile",
                      str(extra), *targets, "--configfile", str(tiny_config)], cluster, env,
                     timeout=900)
    except (AssertionError, subprocess.TimeoutExpired) as e:
        raise AssertionError(f"{e}\n{slurm.tail('slurmctld')}{slurm.tail('slurmd')}") from e
    seconds = time.monotonic() - start
    log = result.stdout + result.stderr
    (tmp_path / "snakemake-slurm.log").write_text(log, encoding="utf-8")

    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) "
                           r"\(log: (\S+?)\)\.", log)
    rules = {jobid: re.search(r"/rule_(\w+?)/", path).group(1) for _, jobid, path in submitted}
    completed = slurm.completed_jobs()
    print(f"\n[slurm] snakemake log: {tmp_path / 'snakemake-slurm.log'} ({seconds:.0f} s)")
    for jobid, rule in sorted(rules.items(), key=lambda kv: int(kv[0])):
        rec = completed.get(jobid, {})
        print(f"[slurm] job {jobid:>3} {rule:<11} {rec.get('JobState', '?'):<10} "
              f"partition={rec.get('Partition')} cpus={rec.get('ProcCnt')} "
              f"node={rec.get('NodeList')} tres={rec.get('Tres')}")

    assert "Using profiles" in log and str(PROFILE) in log
    assert Counter(rules.values()) == {"synthesize": 1, "manifest": 3, "features": 3, "text": 1}
    names = set()
    for jobid, rule in rules.items():
        rec = completed.get(jobid)
        assert rec, f"SLURM job {jobid} ({rule}) is not in {slurm.jobcomp}"
        assert rec["JobState"] == "COMPLETED", rec
        assert rec["Partition"] == PARTITION != DEFAULT_PARTITION, rec  # MAAC_SLURM_PARTITION
        assert int(rec["ProcCnt"]) == min(profile()["set-threads"][rule], slurm.cpus()), rec
        names.add(rec["Name"])
    assert len(names) == 1 and re.search(r"SLURM run ID: " + re.escape(names.pop()), log)
    for _, _, path in submitted:  # each job's own output, kept by slurm-keep-successful-logs
        assert Path(path).is_file(), path

    compared = assert_same_outputs(local, cluster)
    assert any(p.endswith(".h5") for p in compared) and any(p.endswith(".npz") for p in compared)
    print(f"[slurm] {len(compared)} files under data/ equal the local run's")
