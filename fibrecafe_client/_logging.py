"""The SDK's logger and the redaction of what it logs.

Everything is logged under ``logging.getLogger("fibrecafe_client")``; the SDK never turns on
httpx's own logger (it prints full URLs). Setting ``FIBRECAFE_LOG=debug`` or ``info`` installs
one stderr handler (once per process, however many clients are built).

Headers are redacted by allowlist: only the names in :data:`SAFE_HEADERS` show their values,
everything else (Authorization above all, but also any custom header, which may be a key)
prints as ``[redacted]``. Tokens and the client secret are never passed to the logger at all.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Final, cast

__all__ = [
    "ENV_LOG",
    "LOGGER_NAME",
    "REDACTED",
    "SAFE_HEADERS",
    "configure_from_env",
    "logger",
    "redact",
    "redact_headers",
    "remove_env_handler",
]

LOGGER_NAME: Final = "fibrecafe_client"
ENV_LOG: Final = "FIBRECAFE_LOG"
REDACTED: Final = "[redacted]"

#: Header names whose values are safe to log (compared case-insensitively).
SAFE_HEADERS: Final = frozenset(
    {
        "accept",
        "accept-encoding",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "date",
        "retry-after",
        "server",
        "user-agent",
        "x-conversation-id",
        "x-kci-delay",
        "x-problem-code",
        "x-request-id",
        "x-scenario",
    }
)

logger: Final = logging.getLogger(LOGGER_NAME)

_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK: Final = "_fibrecafe_env_handler"
_install_lock = threading.Lock()


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers with every value not on the allowlist replaced by ``[redacted]``."""
    items: Iterable[tuple[str, str]] = (
        cast("Mapping[str, str]", headers).items() if isinstance(headers, Mapping) else headers
    )
    return {name: value if name.lower() in SAFE_HEADERS else REDACTED for name, value in items}


def _env_handler() -> logging.Handler | None:
    for handler in logger.handlers:
        if getattr(handler, _MARK, False):
            return handler
    return None


def configure_from_env(environ: Mapping[str, str] | None = None) -> logging.Handler | None:
    """Apply ``FIBRECAFE_LOG``: install the stderr handler (once) and set the level.

    Returns the handler, or None when the variable is unset or not ``debug``/``info``.
    """
    env = os.environ if environ is None else environ
    level = _LEVELS.get(env.get(ENV_LOG, "").strip().lower())
    if level is None:
        return None
    with _install_lock:
        handler = _env_handler()
        if handler is None:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_FORMAT))
            setattr(handler, _MARK, True)
            logger.addHandler(handler)
        logger.setLevel(level)
    return handler


def remove_env_handler() -> None:
    """Remove the handler installed by :func:`configure_from_env` (and reset the level)."""
    with _install_lock:
        handler = _env_handler()
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
