"""A throw-away one-node SLURM cluster on localhost, for tests (tests/test_slurm.py).

Debian's packages (slurm-wlm, munge) are installed when missing. Every file the cluster needs
(munge key and socket, slurm.conf, state, spool, logs, pid files) lives under one folder; the
daemons (munged, slurmctld, slurmd) run in the foreground as children of this process, so they
are stopped by their own pids, never by name. Ports are picked free at start. Nothing in /etc is
read or written: clients find the cluster through SLURM_CONF (see `LocalSlurm.env`).

Job states without slurmdbd: accounting is off (`sacct` has no database), so the executor plugin
must poll `squeue`, which reports finished jobs for MinJobAge seconds; jobcomp/filetxt writes
one line per finished job (`JobId=... JobState=COMPLETED ...`) into `jobcomp.log`: the record
that the jobs really ran under SLURM. srun inside jobs reaches this config through a wrapper
on PATH (see `write_config`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTITION = "maactest"  # the partition the test asks for
DEFAULT_PARTITION = "maacdefault"  # the cluster's default: where jobs land when none is asked
CLUSTER = "maactest"
DEBIAN_PACKAGES = ["slurm-wlm", "munge"]
# What the cluster and the plugin call: daemons, submission, job status, partitions, config.
BINARIES = ["munged", "slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue",
            "scancel", "sinfo", "scontrol", "sacct"]
MIN_JOB_AGE = 600  # seconds squeue keeps reporting a finished job (the plugin's squeue mode)


class ClusterError(RuntimeError):
    """The local cluster could not be installed or started; the message says which step."""


def missing_binaries() -> list[str]:
    found = {name: shutil.which(name) or _sbin(name) for name in BINARIES}
    return [name for name, path in found.items() if not path]


def _sbin(name: str) -> str | None:
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        path = Path(folder) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def binary(name: str) -> str:
    path = shutil.which(name) or _sbin(name)
    if not path:
        raise ClusterError(f"{name} not found after installing {' '.join(DEBIAN_PACKAGES)}")
    return path


def ensure_installed(timeout: float = 600) -> str:
    """Install slurm-wlm and munge with apt when a binary is missing; idempotent.

    Returns what was done (for the test's output). The packages' services are kept from
    starting (policy-rc.d); this cluster has its own key, socket and ports anyway.
    """
    missing = missing_binaries()
    if not missing:
        return "slurm-wlm and munge already installed"
    if shutil.which("apt-get") is None:
        raise ClusterError(f"missing {', '.join(missing)} and no apt-get to install them")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    deadline = time.monotonic() + timeout
    steps = [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES],
    ]
    with _no_service_starts():
        for cmd in steps:
            left = deadline - time.monotonic()
            try:
                result = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                        timeout=max(left, 1))
            except subprocess.TimeoutExpired as e:
                raise ClusterError(f"`{' '.join(cmd)}` took longer than {timeout:.0f} s") from e
            if result.returncode != 0:
                raise ClusterError(f"`{' '.join(cmd)}` failed ({result.returncode}):\n"
                                   f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    still = missing_binaries()
    if still:
        raise ClusterError(f"still missing after apt-get install: {', '.join(still)}")
    return f"installed {' '.join(DEBIAN_PACKAGES)} with apt-get (was missing {', '.join(missing)})"


@contextlib.contextmanager
def _no_service_starts():
    """Debian's way to keep package scripts from starting services (munged, slurmd, ...)
    during the install: a policy-rc.d that says no, removed again afterwards when it was ours."""
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\n# maac tests: no service starts during apt-get\nexit 101\n",
                          encoding="utf-8")
        policy.chmod(0o755)
    try:
        yield
    finally:
        if ours:
            policy.unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_hardware() -> dict[str, int]:
    """CPUs, boards, sockets, cores, threads and memory of this machine, as slurmd sees them."""
    out = subprocess.run([binary("slurmd"), "-C"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    fields = dict(re.findall(r"(\w+)=(\d+)", out.splitlines()[0]))
    keys = ["CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory"]
    return {k: int(fields[k]) for k in keys if k in fields}


@dataclass
class LocalSlurm:
    """One controller and one compute node on 127.0.0.1, all state under `root`."""

    root: Path
    memory_mb: int = 2000  # RealMemory of the node (capped by the machine's)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        return self.root / "jobcomp.log"

    @property
    def env(self) -> dict[str, str]:
        return self.client_env(os.environ)

    def client_env(self, base) -> dict[str, str]:
        """`base` for a client of this cluster (sbatch, squeue, the executor plugin, srun in a
        job): its SLURM_/SBATCH_/SALLOC_/SRUN_ variables dropped, SLURM_CONF set, the srun
        wrapper first on PATH."""
        env = {k: v for k, v in base.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_"))}
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def cpus(self) -> int:
        return self.hardware["CPUs"]

    # -- configuration -----------------------------------------------------------------------
    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)  # munged refuses group/world-writable folders
        for sub in ("munge", "state", "spool"):
            (self.root / sub).mkdir(mode=0o700, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        (self.root / "plugstack.conf").write_text("", encoding="utf-8")
        # Inside a job the executor's jobstep runs `srun` with every SLURM_* variable removed
        # (SLURM_CONF included), so srun would look for /etc/slurm/slurm.conf, where a real
        # cluster keeps it. This cluster's config lives here: a wrapper first on PATH (which
        # sbatch --export=ALL passes into the job) points srun at it.
        wrapper = self.root / "bin" / "srun"
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{binary("srun")}" "$@"\n',
                           encoding="utf-8")
        wrapper.chmod(0o755)

        self.host = socket.gethostname().split(".")[0]
        self.hardware = node_hardware()
        hw = dict(self.hardware)
        hw["RealMemory"] = min(hw.get("RealMemory", self.memory_mb), self.memory_mb)
        node = " ".join(f"{k}={v}" for k, v in hw.items())
        r = self.root
        self.conf.write_text(
            "\n".join([
                f"ClusterName={CLUSTER}",
                f"SlurmctldHost={self.host}(127.0.0.1)",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={r / 'munge' / 'munge.socket'}",
                f"StateSaveLocation={r / 'state'}",
                f"SlurmdSpoolDir={r / 'spool'}",
                f"SlurmctldPidFile={r / 'slurmctld.pid'}",
                f"SlurmdPidFile={r / 'slurmd.pid'}",
                f"SlurmctldLogFile={r / 'slurmctld.log'}",
                f"SlurmdLogFile={r / 'slurmd.log'}",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                f"PlugStackConfig={r / 'plugstack.conf'}",
                "ProctrackType=proctrack/linuxproc",  # no cgroups needed
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/filetxt",
                f"JobCompLoc={self.jobcomp}",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "MpiDefault=none",
                "ReturnToService=2",
                f"MinJobAge={MIN_JOB_AGE}",
                "InactiveLimit=0",
                "KillWait=5",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=60",
                f"NodeName={self.host} NodeAddr=127.0.0.1 {node} State=UNKNOWN",
                f"PartitionName={DEFAULT_PARTITION} Nodes={self.host} Default=YES"
                " MaxTime=INFINITE State=UP",
                f"PartitionName={PARTITION} Nodes={self.host} Default=NO MaxTime=INFINITE"
                " State=UP",
                "",
            ]),
            encoding="utf-8",
        )

    # -- daemons -------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = (self.root / f"{name}.out").open("ab")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env)
        log.close()

    def _check_alive(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise ClusterError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, n: int = 30) -> str:
        text = ""
        for path in (self.root / f"{name}.out", self.root / f"{name}.log"):
            if path.exists():
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                text += f"--- {path}\n" + "\n".join(lines[-n:]) + "\n"
        return text

    def start(self, timeout: float = 90) -> None:
        self.write_config()
        m = self.root / "munge"
        self._spawn("munged", [
            binary("munged"), "--foreground", "--force",
            f"--socket={m / 'munge.socket'}", f"--key-file={m / 'munge.key'}",
            f"--log-file={m / 'munged.log'}", f"--pid-file={m / 'munged.pid'}",
            f"--seed-file={m / 'munged.seed'}",
        ])
        self._wait(lambda: (m / "munge.socket").exists(), "munged", 20)
        self._spawn("slurmctld", [binary("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._run("scontrol", "ping").returncode == 0
                   and "UP" in self._run("scontrol", "ping").stdout, "slurmctld", timeout)
        self._spawn("slurmd", [binary("slurmd"), "-D", "-N", self.host, "-f", str(self.conf)])
        self._wait(self._node_ready, "slurmd", timeout)

    def _node_ready(self) -> bool:
        out = self._run("sinfo", "-h", "-N", "-o", "%T").stdout.split()
        return bool(out) and out[0].rstrip("*") in {"idle", "mixed", "allocated"}

    def _wait(self, ready, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            with contextlib.suppress(subprocess.TimeoutExpired):
                if ready():
                    return
            time.sleep(0.5)
        raise ClusterError(f"{name} not ready after {timeout:.0f} s:\n{self.tail(name)}")

    def _run(self, tool: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run([binary(tool), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def stop(self) -> None:
        """Cancel what is left in the queue, then stop slurmd, slurmctld and munged by pid."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                ids = self._run("squeue", "-h", "-o", "%i", "-t", "PD,R,CG").stdout.split()
                if ids:
                    self._run("scancel", *ids)
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline and self._run(
                            "squeue", "-h", "-o", "%i", "-t", "PD,R,CG").stdout.split():
                        time.sleep(1)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def running_pids(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.poll() is None]

    # -- records -------------------------------------------------------------------------------
    def completed_jobs(self) -> dict[str, dict[str, str]]:
        """jobcomp.log as {job id: its fields} (JobId, JobName, JobState, NodeList, ...)."""
        jobs = {}
        if self.jobcomp.exists():
            for line in self.jobcomp.read_text(encoding="utf-8").splitlines():
                fields = dict(re.findall(r"(\w+)=(\S*)", line))
                if "JobId" in fields:
                    jobs[fields["JobId"]] = fields
        return jobs
