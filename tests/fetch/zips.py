"""Small zip archives built in memory for the fetch tests (a module of its own: `from conftest import`
picks whichever conftest was imported last when several test folders run together)."""

from __future__ import annotations

import io
import zipfile


def make_zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()
