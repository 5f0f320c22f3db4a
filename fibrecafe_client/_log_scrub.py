"""Secrets scrubbed from httpx's and httpcore's own log records.

The SDK never logs a secret itself, but httpx logs each response's reason phrase at INFO and
httpcore logs every response header at DEBUG. A gateway or proxy that echoes the bearer token
in its reason phrase or in ``WWW-Authenticate`` would put it there. A filter on those loggers
replaces every secret a live client holds (its client secret in each form it is sent in, and
its tokens) by ``[redacted]`` before any handler sees the record.

Logger filters only apply to records logged on that very logger, so each of httpx's and
httpcore's loggers gets the filter. It costs nothing unless those loggers are enabled.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from typing import Final, Protocol

from ._logging import redact

__all__ = ["SecretHolder", "install", "register"]

#: httpx's and httpcore's loggers (each needs its own filter).
LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_MIN_SCRUBBED: Final = 8


class SecretHolder(Protocol):
    """What holds secrets: each of its current secrets, in every form they travel in."""

    def secrets(self) -> Iterable[str]: ...


_holders: weakref.WeakSet[SecretHolder] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def _all_secrets() -> list[str]:
    with _lock:
        holders = list(_holders)
    found = {s for h in holders for s in h.secrets() if len(s) >= _MIN_SCRUBBED}
    return sorted(found, key=len, reverse=True)  # longest first: no half-redacted overlap


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _all_secrets()
        if not secrets:
            return True
        message = record.getMessage()
        scrubbed = redact(message, secrets)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


def install() -> None:
    """Put the filter on httpx's and httpcore's loggers (once per process)."""
    global _installed  # noqa: PLW0603 - a process-wide, install-once flag
    with _lock:
        if _installed:
            return
        scrub = _ScrubFilter()
        for name in LOGGERS:
            logging.getLogger(name).addFilter(scrub)
        _installed = True


def register(holder: SecretHolder) -> None:
    """Scrub ``holder``'s secrets from those loggers while it lives."""
    install()
    with _lock:
        _holders.add(holder)
