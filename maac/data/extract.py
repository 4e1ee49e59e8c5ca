"""Safe 7z extraction of Clotho's audio archives.

Refuses a file that is not a 7z archive and any entry that would land outside the target folder
(absolute paths, ``..``), checks the free disk space against the uncompressed size first, and
extracts into a temporary folder that is renamed onto the target only when complete.
"""

from __future__ import annotations

import lzma
import shutil
from pathlib import Path, PurePosixPath

from maac.atomic import atomic_dir
from maac.errors import MaacError

SPACE_MARGIN = 1.05  # ask for 5 % more than the archive's uncompressed size


class ExtractError(MaacError):
    """An archive that is not a 7z file, escapes its folder, or does not fit on disk."""


def _check_entry(archive: Path, name: str) -> None:
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or (posix.parts and ":" in posix.parts[0]):
        raise ExtractError(
            f"{archive}: entry {name!r} would be written outside the target folder; "
            "refusing to extract this archive (re-download it from the official source)"
        )


def extract_7z(archive: Path | str, out_dir: Path | str, strip: str | None = None) -> int:
    """Extract ``archive`` into ``out_dir``; return the number of files.

    ``strip``: a top-level folder name to remove when every entry sits under it (Clotho's
    archives hold ``development/...``; the target is already ``.../development``).
    """
    import py7zr  # here: only extraction needs it

    archive, out_dir = Path(archive), Path(out_dir)
    if not py7zr.is_7zfile(archive):
        raise ExtractError(f"{archive}: not a 7z archive (truncated or wrong file?); delete it "
                           "and download again")
    try:
        return _extract(archive, out_dir, strip)
    except (py7zr.exceptions.ArchiveError, lzma.LZMAError, EOFError) as err:
        raise ExtractError(
            f"{archive}: damaged 7z archive ({err}); delete it and download again"
        ) from err


def _extract(archive: Path, out_dir: Path, strip: str | None) -> int:
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as z:
        infos = z.list()
        for info in infos:
            _check_entry(archive, info.filename)
        need = sum(info.uncompressed or 0 for info in infos) * SPACE_MARGIN
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(out_dir.parent).free
        if need > free:
            raise ExtractError(
                f"{archive}: needs {need / 1e9:.2f} GB to extract but {out_dir.parent} has "
                f"{free / 1e9:.2f} GB free; free some space and run again"
            )
        with atomic_dir(out_dir) as tmp:
            z.extractall(path=tmp)
            if strip and (tmp / strip).is_dir() and [p.name for p in tmp.iterdir()] == [strip]:
                inner = tmp / strip
                for child in inner.iterdir():
                    child.rename(tmp / child.name)
                inner.rmdir()
            count = sum(1 for p in tmp.rglob("*") if p.is_file())
    return count
