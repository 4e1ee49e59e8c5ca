"""Peak memory of the demo workflow: every step of ``make demo`` run by Snakemake, for real.

The DAG runs in a fresh working folder (``snakemake -s Snakefile --directory``), so the
user's own ``data/`` and ``results/`` are not touched. The peak is ``ru_maxrss`` of the
waited-for descendants of a fresh launcher process (``RUSAGE_CHILDREN``): the largest resident
set any single process reached, each step's ``maac`` command and Snakemake itself included.
It is exact (the kernel's high-water mark, not a sampled value) and bounds the largest step's
peak from above.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from maac.errors import MaacError
from maac.paths import REPO
from maac.text.nltk_resources import NLTK_DIR

LIMIT_MB = 3 * 1024
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def snakefile() -> Path:
    path = REPO / "Snakefile"
    if not path.is_file():
        raise MaacError(f"{path}: not found; the memory benchmark runs the workflow of a source "
                        "checkout (pip install -e .)")
    return path


def run(configfile: Path, workdir: Path, targets: list[str] | None = None) -> dict[str, Any]:
    """Run the workflow of ``configfile`` in ``workdir``; its peak RSS and wall time."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if "NLTK_DATA" not in env and Path(NLTK_DIR).is_dir():  # the project's downloaded copy
        env["NLTK_DATA"] = str(Path(NLTK_DIR).resolve())
    cmd = ["snakemake", "-s", str(snakefile()), "--directory", str(workdir), "--cores", "all",
           "--workflow-profile", str(REPO / "workflow" / "profiles" / "default"),
           *(targets or []), "--configfile", str(configfile.resolve())]  # nargs=+: last
    start = time.perf_counter()
    # A fresh parent process, so that only the workflow's processes count in its children.
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], env=env, capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise MaacError(f"memory benchmark: the workflow of {configfile} failed:\n{tail}")
    peak_mb = int(done.stderr.strip().splitlines()[-1].removeprefix("maxrss_kb ")) / 1024
    return {
        "name": f"peak memory of the {configfile.stem} workflow's largest step",
        "baseline": "-", "ours": "snakemake, every step of the DAG",
        "unit": "MB", "value": peak_mb, "target": LIMIT_MB, "target_kind": "at most",
        "meets_target": peak_mb <= LIMIT_MB, "wall_s": seconds,
        "check": "the workflow completed",
    }
