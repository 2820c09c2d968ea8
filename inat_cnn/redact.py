"""Credentials out of anything that leaves the process: command lines, config values, messages.

wandb records the command line of every run (and uploads it on sync), so a
``--storage postgresql://user:PASSWORD@host/db`` argument would travel with each run.
These functions keep the shape of what they clean (the option is still there, the
URL still names its host) and replace only the secret with ``***``.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user:PASSWORD@host  (the password is everything between the first ':' after the user and '@')
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)(?P<secret>[^\s@/]*)(?P<tail>@)")
# ?password=...  &api_key=...  in URLs and connection strings
_QUERY_SECRET = re.compile(r"(?P<head>[?&;\s](?:password|passwd|pwd|api[_-]?key|token|secret)=)(?P<secret>[^&;\s]*)",
                           re.I)
_SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.I)


def redact_text(text: str) -> str:
    """``text`` with URL passwords and ``password=...``-style query values masked."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], text)
    return _QUERY_SECRET.sub(lambda m: m["head"] + MASK, text)


def redact_url(url: str) -> str:
    """A database URL fit to print: its password replaced by ``***`` (SQLAlchemy parses it, so a password
    holding ``@`` or ``/`` is hidden whole; text SQLAlchemy cannot parse loses what sits between ``user:``
    and ``@``)."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return re.sub(r"(://[^:/@]*):[^@]*@", rf"\1:{MASK}@", url)


def _secret_option(token: str) -> bool:
    """``--api-key`` / ``--password`` / ``--wandb_token``: an option whose name says its value is secret."""
    return token.startswith("-") and "=" not in token and bool(_SECRET_NAME.search(token))


def redact_argv(argv: list[str]) -> list[str]:
    """A copy of a command line with every credential masked.

    ``--password=x`` and ``API_KEY=x`` lose their value, ``--token x`` loses the next
    argument, and URLs lose their password wherever they appear.
    """
    out: list[str] = []
    hide_next = False
    for token in argv:
        token = str(token)
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, sep, _ = token.partition("=")
        if sep and _SECRET_NAME.search(name):
            out.append(f"{name}={MASK}")
        else:
            out.append(redact_text(token))
            hide_next = _secret_option(token)
    return out


def redact_values(value: Any) -> Any:
    """A copy of a config-like structure with secrets masked: under secret-named keys, and inside strings."""
    if isinstance(value, dict):
        return {k: MASK if _SECRET_NAME.search(str(k)) and v is not None else redact_values(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_values(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
