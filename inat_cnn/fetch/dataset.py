"""`inat-cnn data fetch`: download the iNaturalist-12K zip, verify it, unzip it safely, say which --data to use.

The archive lands in DEST (resumable ``.part`` until complete); its entries are extracted into a hidden
staging folder in DEST, a marker recording the archive's URL and SHA-256 (and every file written) goes in
last, and one rename puts the folder in place. A second run finds the marker and does nothing. An
existing folder of the same name that this command did not write is never touched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..folders import read_marker, staging_folder, write_marker
from ..redact import redact_text
from .http import download, file_digests, hash_kind
from .unzip import BadArchive, Limits, extract, plan

DEFAULT_URL = "https://storage.googleapis.com/wandb_datasets/nature_12K.zip"
# (size in bytes, SHA-256) of archives whose content the project has recorded; None = not recorded yet
# (no machine of this project has reached the URL), so the default is checked by the size the server
# announces until a figure is recorded here. `--sha256` pins one.
KNOWN: dict[str, tuple[int | None, str | None]] = {DEFAULT_URL: (None, None)}
MARKER = ".inat-cnn-fetch.json"
KIND = "fetched-dataset"


@dataclass(frozen=True)
class Fetched:
    data_root: Path  # what --data should name (the folder holding train/ and val/)
    folder: Path  # the folder this command wrote
    archive: Path
    sha256: str
    files: int
    fresh: bool  # False: an earlier run had done it all


def archive_name(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    if not name:
        raise UserError(f"cannot tell the archive's file name from {url!r}: the URL must end with a file name")
    return name


def _source(url: str) -> str:
    """What a marker records to recognise the URL (a hash: a URL may carry a password)."""
    return hashlib.sha256(url.encode()).hexdigest()


def _data_root(folder: Path) -> Path:
    """The folder that holds train/ (the folder itself or one level down), else the folder."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (candidate / "train").is_dir():
            return candidate
    return folder


def _earlier(dest: Path, url: str, sha256: str | None) -> Fetched | None:
    """A folder in DEST that an earlier run wrote from this URL (and this hash, if one is pinned)."""
    if not dest.is_dir():
        return None
    for folder in sorted(p for p in dest.iterdir() if p.is_dir() and not p.name.startswith(".")):
        record = read_marker(folder, MARKER, KIND)
        if not record or record.get("source") != _source(url):
            continue
        if sha256 and record.get("sha256") != sha256.lower():
            raise UserError(f"{folder} was fetched earlier from {redact_text(url)} with SHA-256 "
                            f"{record.get('sha256')}, not the pinned {sha256.lower()}: remove that folder (or use "
                            "another --dest) to fetch again.")
        missing = [rel for rel in record["files"] if not (folder / rel).is_file()]
        if missing:
            raise UserError(f"{folder} was fetched earlier but {len(missing)} of its files are gone (e.g. "
                            f"{missing[0]}): remove that folder and run the command again.")
        return Fetched(folder / record.get("root", "."), folder, dest / archive_name(url), record["sha256"],
                       len(record["files"]), fresh=False)
    return None


def fetch_dataset(url: str = DEFAULT_URL, dest: Path = Path("."), sha256: str | None = None, *,
                  progress: bool = True, limits: Limits = Limits()) -> Fetched:
    """Download (or reuse) the archive, verify it, extract it once; see the module docstring."""
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise UserError(f"--dest {dest} is a file, not a folder")
    known_size, known_sha = KNOWN.get(url, (None, None))
    pinned = sha256 or known_sha
    if pinned and hash_kind(pinned) != "sha256":
        raise UserError(f"--sha256 {pinned!r} is not a SHA-256 (64 hex digits)")
    done = _earlier(dest, url, pinned)
    if done:
        return done
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / archive_name(url)
    downloaded_now = not archive.is_file()
    if downloaded_now:
        digest = download(url, archive, expected_hash=pinned, expected_size=known_size, progress=progress).sha256
    else:  # a complete archive: ours from a run that stopped later, or one the user placed there
        digest = file_digests(archive)["sha256"]
        if pinned and digest != pinned.lower():
            raise UserError(f"{archive} is already there but its SHA-256 is {digest}, not {pinned.lower()}: "
                            "remove it (or use another --dest) and run the command again.")
    try:
        return _unpack(url, archive, digest, plan(archive, limits), dest)
    except BadArchive as err:
        if downloaded_now:  # a file this run wrote: remove it so that the next run downloads afresh
            archive.unlink()
            raise UserError(f"{err} The downloaded file was removed.") from None
        raise UserError(f"{err} (The file was already in {dest}; it was left as it is.)") from None


def _unpack(url: str, archive: Path, digest: str, the_plan, dest: Path) -> Fetched:
    out = dest / (the_plan.top or archive.name.split(".")[0])
    if os.path.lexists(out):
        raise UserError(f"{out} already exists and was not written by `inat-cnn data fetch` from "
                        f"{redact_text(url)}: it was left untouched. Move it away, or pick another --dest.")
    staging = staging_folder(out)
    try:
        files = extract(archive, the_plan, staging)
        root = _data_root(staging).relative_to(staging).as_posix()
        write_marker(staging, MARKER, KIND, url=redact_text(url), source=_source(url), sha256=digest,
                     archive=archive.name, root=root)  # fmt: skip
        if os.path.lexists(out):  # appeared while we extracted
            raise UserError(f"{out} appeared while the archive was being extracted: it was left untouched.")
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # the staging folder is ours alone
        raise
    return Fetched(out / root, out, archive, digest, files, fresh=True)
