"""The project's error type: one readable line, naming the file or key and what to do.

Modules raise :class:`MaacError` for every failure they expect. :func:`fault_line` is the last
line of defence of the ``maac`` command: it turns what still escapes (a full disk, a file that
cannot be written, a file that is not UTF-8, a bug) into one line and an exit status.
"""

from __future__ import annotations

import errno
import io
from collections.abc import Iterator
from types import TracebackType

DEBUG_ENV = "MAAC_DEBUG"  # set to 1 (or pass --debug) for the full traceback
EXIT_ERROR, EXIT_INTERNAL = 1, 3  # argparse's usage errors exit with 2
HINT = f"rerun with {DEBUG_ENV}=1 for the traceback"


class MaacError(Exception):
    """An expected failure caused by input, data or environment; printed without a traceback."""


def _chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and the exceptions it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def os_error_line(err: OSError, name: object | None) -> str | None:
    """The line for a full disk or a refused write of ``name``; None for other OS errors."""
    code = err.errno
    if code is None and "No space left on device" in str(err):  # h5py keeps only the text
        code = errno.ENOSPC
    where = f" writing {name}" if name else ""
    if code == errno.ENOSPC:
        return f"disk full{where}; free some space and rerun"
    if code == errno.EDQUOT:
        return f"disk quota exceeded{where}; free some space and rerun"
    if code == errno.EROFS:
        return f"cannot write {name or 'the output'}: read-only file system; give a writable path"
    if code in (errno.EACCES, errno.EPERM):
        return (f"{name or 'a file'}: permission denied; check the permissions of the file "
                "and its folder")
    return None


def _open_file_name(tb: TracebackType | None) -> str | None:
    """The name of the innermost open file object in the frames of a traceback."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                return value.name
    return None


def not_utf8(name: object, err: UnicodeDecodeError) -> MaacError:
    """The error for text file ``name`` that does not decode as UTF-8."""
    return MaacError(f"{name}: not UTF-8 text ({_bad_byte(err)}); save it as UTF-8")


def _bad_byte(err: UnicodeDecodeError) -> str:
    return f"byte {err.object[err.start]:#04x} is not valid {err.encoding}"


def _unicode_line(err: UnicodeDecodeError) -> str:
    name = _open_file_name(err.__traceback__)
    if name:
        return str(not_utf8(name, err))
    return (f"an input file is not UTF-8 text ({_bad_byte(err)}); save it as UTF-8 ({HINT} "
            "to see which)")


def fault_line(err: BaseException) -> tuple[int, str]:
    """The exit status and the one line that ``maac`` prints for ``err``."""
    if isinstance(err, MaacError):
        return EXIT_ERROR, f"maac: error: {err}"
    chain = list(_chain(err))
    names = [str(e.filename) for e in chain if isinstance(e, OSError) and e.filename]
    for e in chain:  # a full disk or a refused write anywhere in the chain is the cause
        if isinstance(e, OSError):
            name = (str(e.filename) if e.filename else names[0] if names else
                    _open_file_name(e.__traceback__))
            line = os_error_line(e, name)
            if line:
                return EXIT_ERROR, f"maac: error: {line}"
        if isinstance(e, UnicodeDecodeError):
            return EXIT_ERROR, f"maac: error: {_unicode_line(e)}"
    if isinstance(err, OSError) and err.filename:  # e.g. a missing file, a folder for a file
        return EXIT_ERROR, f"maac: error: {err.filename}: {err.strerror or err}"
    message = " ".join(str(err).split())
    if len(message) > 300:
        message = message[:297] + "..."
    return EXIT_INTERNAL, (f"maac: internal error: {type(err).__name__}: {message} "
                           f"({HINT}; please report it)")
