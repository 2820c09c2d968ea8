"""Keep secrets out of exports: drop keys that look like credentials or environment dumps."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential|auth|^env$|environ)", re.I)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names something that must not leave the machine."""
    return bool(_SECRET_KEY.search(str(key)))


def scrub(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key removed, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value
