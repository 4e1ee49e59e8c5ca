"""Reading a user's text file (config, caption CSV, manifest) as UTF-8, with one-line errors."""

from __future__ import annotations

from pathlib import Path

from maac.errors import MaacError


def read_utf8(path: Path | str, what: str, error: type[MaacError] = MaacError) -> str:
    """The text of ``path`` (a leading UTF-8 byte-order mark dropped); ``error`` naming the file,
    the line and what to do when it cannot be read or is not UTF-8. ``what``: 'config', ..."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise error(f"{path}: cannot read the {what} ({err.strerror})") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise error(f"{path}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}); save "
                    f"the {what} as UTF-8") from err
