"""Checksummed, resumable HTTP downloads.

A file is fetched to ``NAME.part`` beside its target; an interrupted transfer resumes with an
HTTP ``Range`` request; connection failures are retried with exponential backoff; the part is
renamed onto the target only after its md5 matches (compared case-insensitively). A wrong
checksum removes the part and stops with one line naming the URL and both sums. The URL, the
md5's form and the target folder are checked before anything is fetched.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from maac.atomic import write_error
from maac.errors import MaacError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # hashing block
NET_CHUNK = 64 << 10  # network block: a dropped connection loses at most this much
RETRY_STATUS = {429, 500, 502, 503, 504}  # temporary server answers, retried like a drop


class DownloadError(MaacError):
    """A download that cannot complete (bad checksum, HTTP error, retries exhausted)."""


def md5sum(path: Path, chunk: int = CHUNK) -> str:
    digest = hashlib.md5()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_md5(md5: str, where: str) -> str:
    """``md5`` in lower case; a :class:`DownloadError` naming ``where`` if it is not 32 hex."""
    if not isinstance(md5, str) or re.fullmatch(r"[0-9A-Fa-f]{32}", md5) is None:
        raise DownloadError(f"{where}: {md5!r} is not an md5 sum (32 hexadecimal digits); "
                            "give the file's md5")
    return md5.lower()


def check_url(url: str) -> None:
    """Refuse a URL that is not ``http(s)://host/...`` before any connection is made."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise DownloadError(f"{url!r}: not an http(s) URL; give one such as "
                            "https://zenodo.org/record/4783391/files/NAME")


def _check_dest(dest: Path) -> None:
    if dest.is_dir():
        raise DownloadError(f"{dest}: is a folder; give the path of the file to write, e.g. "
                            f"{dest / 'NAME'}")
    folder = next((p for p in (dest.parent, *dest.parent.parents) if p.exists()), Path("."))
    if not folder.is_dir():
        raise DownloadError(f"{dest}: {folder} is not a folder; give another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DownloadError(f"cannot write {dest}: {folder} is not writable; give a path you "
                            "can write")


def _fetch_once(url: str, part: Path, timeout: float) -> None:
    """Append the missing bytes of ``url`` to ``part``; raise on any incomplete transfer."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        if r.status_code == 416:  # nothing left to fetch: the part is already whole
            return
        if r.status_code == 200 and have:
            log.info("%s: server ignored the range request; starting over", url)
            have = 0
        elif r.status_code in RETRY_STATUS:
            raise requests.ConnectionError(f"HTTP {r.status_code} {r.reason} (temporary)")
        elif r.status_code not in (200, 206):
            raise DownloadError(f"{url}: HTTP {r.status_code} {r.reason}")
        expected = r.headers.get("Content-Length")
        got = 0
        with part.open("ab" if have else "wb") as f:
            for block in r.iter_content(NET_CHUNK):
                f.write(block)
                got += len(block)
        if expected is not None and got != int(expected):
            raise requests.ConnectionError(f"transfer ended after {got} of {expected} bytes")


def download(
    url: str, dest: Path | str, md5: str, *, retries: int = 5, backoff: float = 1.0,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its md5; skip when ``dest`` already matches."""
    dest = Path(dest)
    md5 = check_md5(md5, url)
    check_url(url)
    _check_dest(dest)
    try:
        return _download(url, dest, md5, retries, backoff, timeout)
    except OSError as err:
        part = dest.with_name(dest.name + ".part")
        kept = f" ({_part_state(part)})" if err.errno == errno.ENOSPC else ""
        raise MaacError(f"{write_error(err, part)}{kept}") from None


def _download(
    url: str, dest: Path, md5: str, retries: int, backoff: float, timeout: float
) -> Path:
    if dest.exists():
        if md5sum(dest) == md5:
            log.info("%s: present, md5 ok", dest)
            return dest
        raise DownloadError(
            f"{dest}: exists but its md5 is not {md5}; delete it and run again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout)
            break
        except requests.exceptions.InvalidURL as err:
            raise DownloadError(f"{url!r}: not a valid URL ({err}); check it") from err
        except (
            requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError
        ) as err:
            if attempt == retries:
                raise DownloadError(f"{url}: failed after {retries + 1} attempts ({_reason(err)}); "
                                    f"{_part_state(part)}") from err
            wait = backoff * 2**attempt
            resume = " (resuming)" if part.exists() and part.stat().st_size else ""
            log.warning("%s: %s; retrying in %.1f s%s", url, _reason(err), wait, resume)
            time.sleep(wait)
    got = md5sum(part)
    if got != md5:
        part.unlink()
        raise DownloadError(
            f"{url}: md5 {got} does not match the expected {md5}; the download was removed, "
            "run again (or check the URL and checksum in the config)"
        )
    os.replace(part, dest)
    return dest


def _reason(err: Exception) -> str:
    """The last line of a requests error, without urllib3's nested object reprs."""
    text = str(err)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "host name not found"
    return text if len(text) < 200 else text[:200] + "..."


def _part_state(part: Path) -> str:
    """What a failed download leaves: a resumable part, or nothing."""
    if part.exists() and part.stat().st_size > 0:
        return f"the partial file {part} is kept, run again to resume"
    part.unlink(missing_ok=True)
    return "nothing was written; check the URL and the network, then run again"
