"""Resumable download of one URL into ``<target>.part``, verified by size and hash, then renamed into place.

A transfer that is cut short keeps what it received; the next attempt (a few in one call, then the next
call) asks for the rest with an HTTP ``Range`` header (``If-Range`` with the server's validator, so a
file that changed on the server is fetched again from the start). The final name only ever appears for
a file whose size matched what the server announced and whose hash matched the expected one, if any.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..redact import redact_text
from .disk import disk_full, human_bytes, is_disk_full, require_free
from .progress import Bar

CHUNK = 1 << 20
ATTEMPTS = 4
TIMEOUT_S = 30.0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


class _Cut(Exception):
    """The transfer stopped early; the .part file keeps what arrived and the next attempt resumes."""


def hash_kind(expected: str) -> str:
    """md5 for 32 hex digits (Keras' older weights files), sha256 for 64; anything else is an input error."""
    kinds = {32: "md5", 64: "sha256"}
    if not re.fullmatch(r"[0-9a-fA-F]+", expected or "") or len(expected) not in kinds:
        raise UserError(f"{expected!r} is not a SHA-256 (64 hex digits) or MD5 (32 hex digits) hash")
    return kinds[len(expected)]


def file_digests(path: Path, extra: str | None = None) -> dict[str, str]:
    """sha256 of the file, plus ``extra`` (e.g. md5) in the same pass."""
    hashers = {"sha256": hashlib.sha256()}
    if extra and extra != "sha256":
        hashers[extra] = hashlib.new(extra)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            for h in hashers.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashers.items()}


def download(url: str, target: Path, *, expected_hash: str | None = None, expected_size: int | None = None,
             progress: bool = True, attempts: int | None = None) -> Downloaded:
    """Fetch ``url`` into ``target`` (resuming ``target.part``), verify it, rename it into place."""
    target, attempts = Path(target), attempts or ATTEMPTS
    kind = hash_kind(expected_hash) if expected_hash else None
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    with Bar(target.name, enabled=progress) as bar:
        for attempt in range(attempts):
            try:
                _transfer(url, part, bar)
                break
            except _Cut as cut:
                last = cut
                if attempt + 1 < attempts:
                    time.sleep(min(0.25 * 2 ** attempt, 2.0))
        else:
            got = part.stat().st_size if part.exists() else 0
            raise UserError(f"the download of {redact_text(url)} was cut short {attempts} times (last: {last}); "
                            f"{part} keeps the {human_bytes(got)} received: run the same command again to resume.")
    size = part.stat().st_size
    digests = file_digests(part, kind)
    problem = None
    if expected_size is not None and size != expected_size:
        problem = f"it has {size} bytes where {expected_size} were expected"
    elif kind and digests[kind] != expected_hash.lower():
        problem = f"its {kind} is {digests[kind]} where {expected_hash.lower()} was expected"
    if problem:
        part.unlink()
        _meta_path(part).unlink(missing_ok=True)
        raise UserError(f"the file downloaded from {redact_text(url)} is not the expected one: {problem}. The "
                        "download was removed; check the URL (or the pinned hash) and run the command again.")
    os.replace(part, target)
    _meta_path(part).unlink(missing_ok=True)
    return Downloaded(target, size, digests["sha256"])


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict:
    try:
        meta = json.loads(_meta_path(part).read_text())
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_meta(part: Path, meta: dict) -> None:
    path = _meta_path(part)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, path)


def _transfer(url: str, part: Path, bar: Bar) -> None:
    """One attempt: the rest of ``url`` appended to ``part``. Raises _Cut when it stops early."""
    meta, source = _read_meta(part), hashlib.sha256(url.encode()).hexdigest()  # a URL may hold a password
    have = part.stat().st_size if part.exists() and meta.get("source") == source else 0
    headers = {"User-Agent": "inat-cnn", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: complete if the server's size is ours
            match = _CONTENT_RANGE.search(err.headers.get("Content-Range", "") or "") or re.search(
                r"\*/(\d+)", err.headers.get("Content-Range", "") or "")
            if match and int(match.groups()[-1]) == have:
                return
            part.unlink(missing_ok=True)
            raise _Cut("the server refused to resume; starting again") from None
        raise _http_error(url, err) from None
    except urllib.error.URLError as err:
        raise network_error(url, err.reason) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
        raise _Cut(f"{type(err).__name__}: {err}") from None
    with resp:
        status = getattr(resp, "status", None) or 200
        total = _announced_total(resp, status)
        if status == 206:
            start = int(_CONTENT_RANGE.search(resp.headers.get("Content-Range", "")).group(1))
            if start != have:
                part.unlink(missing_ok=True)
                raise _Cut(f"the server resumed at byte {start} instead of {have}; starting again")
        else:
            have = 0
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        _write_meta(part, {"source": source, "total": total, "validator": validator})
        if total is not None:
            require_free(part, total - have)
        bar.start(total, have)
        got = _copy_body(resp, part, "ab" if have else "wb", bar)
    if total is not None and have + got < total:
        raise _Cut(f"received {have + got} of {total} bytes")
    if total is not None and have + got > total:
        part.unlink(missing_ok=True)
        raise UserError(f"{redact_text(url)} sent more bytes ({have + got}) than it announced ({total}); the "
                        "partial file was removed. Try again later or another URL.")


def _announced_total(resp, status: int) -> int | None:
    if status == 206:
        match = _CONTENT_RANGE.search(resp.headers.get("Content-Range", "") or "")
        if not match:
            raise _Cut("the server answered a range request without a Content-Range")
        return None if match.group(3) == "*" else int(match.group(3))
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _copy_body(resp, part: Path, mode: str, bar: Bar) -> int:
    got = 0
    try:
        with open(part, mode) as out:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                    raise _Cut(f"{type(err).__name__}: {err}") from None
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
                bar.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    except OSError as err:
        if is_disk_full(err):
            raise disk_full(part) from None
        raise
    return got


def network_error(url: str, reason) -> UserError:
    """No network, a refused connection, an unknown host: one paragraph saying what to do instead."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "") or redact_text(url)
    if isinstance(reason, ConnectionRefusedError):
        what = f"the connection to {host} was refused"
    elif isinstance(reason, socket.gaierror):
        what = f"the host name {host} cannot be resolved (no network, or no DNS here)"
    elif isinstance(reason, (TimeoutError, socket.timeout)):
        what = f"{host} did not answer within {TIMEOUT_S:.0f} s"
    elif isinstance(reason, FileNotFoundError):
        what = f"there is no such file ({reason.filename or url})"
    else:
        what = f"{host} cannot be reached ({reason})"
    return UserError(f"cannot download {redact_text(url)}: {what}. Without internet here, download the file on "
                     "a machine that has it and pass its path as a file:// URL (or a mirror you run).")


def _http_error(url: str, err: urllib.error.HTTPError) -> UserError:
    if err.code == 404:
        return UserError(f"{redact_text(url)} does not exist (HTTP 404 Not Found): check the URL.")
    return UserError(f"the server refused {redact_text(url)}: HTTP {err.code} {err.reason}. Try again later or "
                     "another URL.")
