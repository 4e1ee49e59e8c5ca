"""Safe 7z extraction of Clotho's audio archives.

Refuses a file that is not a 7z archive, an archive without files and any entry that would land
outside the target folder (absolute paths, ``..``), checks the free disk space against the
uncompressed size first, and extracts into a temporary folder that is renamed onto the target
only when complete. The target is never a folder holding other files: only a missing or empty
folder, or an earlier output of ``maac extract`` (recognised by its marker file), is replaced.
"""

from __future__ import annotations

import lzma
import os
import shutil
from pathlib import Path, PurePosixPath

from maac.atomic import command_output_dir, write_error
from maac.errors import MaacError

COMMAND = "maac extract"

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
    if not archive.exists():
        raise ExtractError(f"{archive}: archive not found; check the path (or download it)")
    if archive.is_dir():
        raise ExtractError(f"{archive}: is a folder, not a 7z archive; give the .7z file")
    real_archive, real_out = Path(os.path.realpath(archive)), Path(os.path.realpath(out_dir))
    if real_out == real_archive or real_out in real_archive.parents:
        raise ExtractError(
            f"{out_dir}: is the archive {archive} or a folder holding it; extract into a new "
            f"folder, e.g. {archive.parent / archive.name.split('.')[0]} (nothing was changed)"
        )
    if not py7zr.is_7zfile(archive):
        raise ExtractError(f"{archive}: not a 7z archive (truncated or wrong file?); delete it "
                           "and download again")
    try:
        return _extract(archive, out_dir, strip)
    except (py7zr.exceptions.ArchiveError, lzma.LZMAError, EOFError) as err:
        raise ExtractError(
            f"{archive}: damaged 7z archive ({err}); delete it and download again"
        ) from err
    except OSError as err:
        raise write_error(err, out_dir) from None


def human_bytes(n: float) -> str:
    """``1234567`` -> ``'1.23 MB'`` (decimal units, three significant digits)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 999.5 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError  # unreachable


def _check_layout(archive: Path, names: list[str], strip: str | None) -> None:
    """Refuse an archive without files, and a ``strip`` that is not its one top folder."""
    if not names:
        raise ExtractError(f"{archive}: holds no files (an empty dataset is not a result); "
                           "delete it and download again")
    parts = [PurePosixPath(name.replace("\\", "/")).parts for name in names]
    tops = sorted({p[0] for p in parts})
    if strip is not None and any(len(p) < 2 or p[0] != strip for p in parts):
        shown = ", ".join(repr(t) for t in tops[:5]) + (f" and {len(tops) - 5} more"
                                                         if len(tops) > 5 else "")
        raise ExtractError(
            f"{archive}: --strip {strip!r}, but the archive's top level holds {shown}, not the "
            f"one folder {strip!r}; give --strip the right name or leave it out"
        )


def _extract(archive: Path, out_dir: Path, strip: str | None) -> int:
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as z:
        infos = z.list()
        for info in infos:
            _check_entry(archive, info.filename)
        _check_layout(archive, [i.filename for i in infos if not i.is_directory], strip)
        need = sum(info.uncompressed or 0 for info in infos) * SPACE_MARGIN
        with command_output_dir(out_dir, COMMAND) as tmp:
            free = shutil.disk_usage(tmp).free
            if need > free:
                raise ExtractError(
                    f"{archive}: needs {human_bytes(need)} to extract but {out_dir.parent} has "
                    f"{human_bytes(free)} free; free some space and run again"
                )
            z.extractall(path=tmp)
            if strip:
                inner = tmp / strip
                for child in inner.iterdir():
                    child.rename(tmp / child.name)
                inner.rmdir()
            count = sum(1 for p in tmp.rglob("*") if p.is_file())
    return count
