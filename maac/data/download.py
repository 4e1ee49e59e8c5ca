"""Checksummed, resumable HTTP downloads.

A file is fetched to ``NAME.part`` beside its target; an interrupted transfer resumes with an
HTTP ``Range`` request; connection failures are retried with exponential backoff; the part is
renamed onto the target only after its md5 matches. A wrong checksum removes the part and stops
with one line naming the URL and both sums.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import requests

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
        except (
            requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError
        ) as err:
            if attempt == retries:
                raise DownloadError(
                    f"{url}: failed after {retries + 1} attempts ({err}); the partial file "
                    f"{part} is kept, run again to resume"
                ) from err
            wait = backoff * 2**attempt
            log.warning("%s: %s; retrying in %.1f s (resuming)", url, err, wait)
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
