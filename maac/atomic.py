"""Atomic outputs: write to a temporary name beside the target, rename only when complete.

A killed or failing step therefore never leaves a half-written artifact under the final name,
and an earlier finished artifact stays untouched until its replacement is complete.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from maac.errors import MaacError, os_error_line
from maac.paths import OUTPUT_MARKER as MARKER

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

log = logging.getLogger(__name__)

# MARKER is written last into a folder that a command produced: what wrote it, the files it holds
_TOOL_FILES = {MARKER, ".snakemake_timestamp"}  # Snakemake touches this in directory() outputs


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _owner() -> str:
    """``HOST-PID``: names this process in the temporary names of :func:`atomic_dir`."""
    return f"{_host()}-{os.getpid()}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; rename it onto ``path`` on success.

    A full disk while the body writes is one MaacError line, "disk full writing PATH"."""
    path = Path(path)
    if path.is_dir():
        raise MaacError(f"{path} is a folder; give the path of a file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp",
                                   dir=path.parent)
    except OSError as err:
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocking} is a file" if blocking else err.strerror
        raise MaacError(f"cannot write {path} ({why}); choose a folder you can write to") \
            from err
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, path)
    except OSError as err:
        if err.errno in DISK_FULL:
            raise write_error(err, path) from err
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` on success.

    An existing ``path`` is moved aside first and removed only after the new folder is in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{_owner()}-", suffix=".tmp",
                                dir=path.parent))
    old: Path | None = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual mode
        if path.exists():
            old = path.with_name(f".{path.name}.old-{_owner()}")
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_dirs(path: Path | str) -> list[Path]:
    """Remove what killed runs of :func:`atomic_dir` on ``path`` left beside it; return them.

    Only this host's temporary folders whose process is gone are removed; a running one stays.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(
        rf"^\.{re.escape(path.name)}\.(?:tmp-(?P<host>.+)-(?P<pid>\d+)-[^/]+\.tmp"
        rf"|old-(?P<host2>.+)-(?P<pid2>\d+))$"
    )
    removed = []
    for sibling in path.parent.iterdir():
        match = pattern.match(sibling.name)
        if match is None or sibling.is_symlink() or not sibling.is_dir():
            continue
        host = match.group("host") or match.group("host2")
        pid = int(match.group("pid") or match.group("pid2"))
        if host != _host() or _alive(pid):
            continue
        shutil.rmtree(sibling)
        log.info("%s: removed %s, left by an earlier run that was killed", path, sibling.name)
        removed.append(sibling)
    return removed


def write_marker(folder: Path, command: str) -> None:
    """Record in ``folder`` that ``command`` wrote it, with the files it holds (sorted)."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if not p.is_dir() and p.name != MARKER)
    text = json.dumps({"written_by": command, "files": files}, ensure_ascii=False, indent=1)
    (folder / MARKER).write_text(text + "\n", encoding="utf-8")


def _marker_files(folder: Path, command: str) -> set[str] | None:
    """The files listed by ``command``'s marker in ``folder``; None without a valid one."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != command:
        return None
    files = data.get("files")
    return set(files) if isinstance(files, list) else None


def check_output_dir(path: Path | str, command: str) -> bool:
    """Refuse a ``path`` that ``command`` may not replace; True when it holds an earlier output.

    Allowed: a missing or empty folder, or a complete earlier output of the same ``command``
    (its marker lists every file there, besides Snakemake's timestamp). Anything else, a file,
    the current folder or one above it, a folder with other files, raises :class:`MaacError`
    and nothing is changed.
    """
    path = Path(path)
    target, cwd = Path(os.path.realpath(path)), Path(os.path.realpath(Path.cwd()))
    if target == cwd or target in cwd.parents:
        raise MaacError(f"{path}: is the current folder or one above it; {command} replaces "
                        f"its output folder, give a new folder such as {path / 'out'}")
    if not path.exists() and not path.is_symlink():
        return False
    if not path.is_dir():
        raise MaacError(f"{path}: exists and is not a folder; {command} writes a folder there, "
                        "give a new folder path (nothing was changed)")
    files = (p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir())
    first = next(files, None)
    if first is None:
        return False
    listed = _marker_files(path, command)
    if listed is None:
        raise MaacError(
            f"{path}: folder already holds files that {command} did not write (e.g. {first!r}); "
            "give a new or empty folder, or move them away (nothing was changed)"
        )
    extra = sorted(name for name in (first, *files) if name not in _TOOL_FILES | listed)
    if extra:
        more = f" and {len(extra) - 1} more file(s)" if len(extra) > 1 else ""
        raise MaacError(
            f"{path}: holds {extra[0]!r}{more}, not part of the earlier {command} output there; "
            "move it away or give another folder (nothing was changed)"
        )
    return True


@contextmanager
def command_output_dir(path: Path | str, command: str) -> Iterator[Path]:
    """:func:`atomic_dir` for a command's output folder, guarded by :func:`check_output_dir`.

    Cleans what killed runs left beside ``path``, writes the marker last, and replaces an
    earlier output of the same command only when the new one is complete (logged).
    """
    earlier = check_output_dir(path, command)
    path = Path(os.path.abspath(path))
    clean_stale_dirs(path)
    with atomic_dir(path) as tmp:
        yield tmp
        write_marker(tmp, command)
        if check_output_dir(path, command) or earlier:
            log.info("%s: replacing the earlier output of %s there", path, command)


def write_error(err: OSError, path: Path | str | None = None) -> MaacError:
    """One line for an OSError met while writing ``path`` (disk full, read-only, no access)."""
    where = err.filename if path is None and err.filename else path
    return MaacError(os_error_line(err, where)
                     or f"cannot write {where}: {err.strerror or err}; check the path and rerun")
