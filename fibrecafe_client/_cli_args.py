"""Argument checks of the ``fibrecafe`` command, shared by every subcommand.

Each function here is an ``argparse`` ``type=`` converter: it returns the parsed value or raises
``argparse.ArgumentTypeError`` with a message that says what is expected, so a bad value is a
usage error (one line, exit code 2) found while parsing, before any command runs and so before
the first request. Messages never echo a value that may be a secret (credentials, tokens).

:class:`Parser` is the ``ArgumentParser`` whose usage errors are one line on stderr;
:class:`UsageError` is a mistake found after parsing, and :func:`client_from` builds the client
from the credential flags, for every subcommand module alike.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from ._config import check_headers
from .errors import ConfigurationError, RequestValidationError
from .models import ProblemType

if TYPE_CHECKING:
    from ._client import FibreCafe

__all__ = [
    "EXIT_USAGE",
    "SCENARIO_PREFIX",
    "Parser",
    "UsageError",
    "basic_credentials",
    "client_from",
    "header",
    "loopback_host",
    "loopback_url",
    "name_value",
    "non_empty",
    "non_negative_seconds",
    "port",
    "positive_int",
    "positive_seconds",
    "problem_type",
    "scenario",
    "service_test_id",
]

EXIT_USAGE = 2
SCENARIO_PREFIX = "SERVICE_TEST_"


class UsageError(Exception):
    """A command-line mistake found after argparse (exit code 2)."""


def client_from(args: argparse.Namespace) -> FibreCafe:
    """The client of a command, from its credential and gateway flags."""
    from ._client import FibreCafe  # noqa: PLC0415 - keeps `fibrecafe --help` fast

    options: dict[str, Any] = {
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "environment": args.environment,
        "base_url": args.base_url,
        "token_url": args.token_url,
        "scope": args.scope,
    }
    if args.timeout is not None:
        options["timeout"] = args.timeout
    return FibreCafe(**options)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``PROG: error: ... (see --help)``.

    Subparsers made with ``add_subparsers`` are of this class too.
    """

    def error(self, message: str) -> NoReturn:
        """Print one line on stderr and exit 2 (argparse prints the whole usage first)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see {self.prog} -h)\n")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (timeouts, lifetimes)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds >= 0 (delays)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text!r}")
    return value


def _integer(text: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit() or not stripped.isascii() or len(stripped) > 30:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(stripped)


def positive_int(text: str) -> int:
    """An integer >= 1 (sizes, counts)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text!r}")
    return value


def service_test_id(text: str) -> int:
    """A service test id: the positive integer the gateway allocated."""
    from .resources.service_tests import test_id_of  # noqa: PLC0415 - loads the models

    try:
        return test_id_of(text)
    except RequestValidationError:
        raise argparse.ArgumentTypeError(f"must be a positive integer id, got {text!r}") from None


def scenario(text: str) -> str:
    """A service-test ``X-Scenario`` the sandbox (and CVT) knows; ``RED`` is ``SERVICE_TEST_RED``.

    Returns the full header value. CVT may know more than this SDK: send any other with
    ``--header X-Scenario:NAME``.
    """
    from .sandbox._scenarios import Scenario  # noqa: PLC0415 - pure data, no uvicorn needed

    name = text.strip().upper()
    name = name if name.startswith(SCENARIO_PREFIX) else SCENARIO_PREFIX + name
    known = [member.value for member in Scenario]
    if name not in known:
        short = ", ".join(value.removeprefix(SCENARIO_PREFIX) for value in known)
        raise argparse.ArgumentTypeError(f"unknown scenario {text!r}: expected one of {short}")
    return name


def problem_type(text: str) -> str:
    """One of the documented problem types, in any case."""
    name = text.strip().upper()
    if name not in ProblemType.__members__:
        raise argparse.ArgumentTypeError(
            f"unknown problem type {text!r}: expected one of {', '.join(ProblemType)}"
        )
    return name


def non_empty(text: str) -> str:
    """Any non-blank string without surrounding whitespace (never echoed: it may be a secret)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    if text != text.strip():
        raise argparse.ArgumentTypeError("must not start or end with whitespace")
    return text


def name_value(separator: str, example: str) -> Callable[[str], tuple[str, str]]:
    """A converter for ``NAME<separator>VALUE`` pairs (the value may be empty)."""

    def convert(text: str) -> tuple[str, str]:
        name, sep, rest = text.partition(separator)
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(
                f"must look like NAME{separator}VALUE (e.g. {example}), got {text!r}"
            )
        return name.strip(), rest

    convert.__name__ = "name_value"
    return convert


def header(text: str) -> tuple[str, str]:
    """An extra request header, ``NAME:VALUE``; the value is never echoed."""
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("must look like NAME:VALUE (e.g. X-Scenario:GREEN)")
    pair = {name.strip(): rest.strip()}
    try:
        check_headers("--header", pair)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--header: ")) from None
    return name.strip(), rest.strip()


def basic_credentials(text: str) -> tuple[str, str]:
    """``USER:PASSWORD`` (the password may contain ``:``; neither is echoed)."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("must look like USER:PASSWORD, both non-empty")
    return user, password


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_host(text: str) -> str:
    """A loopback IP address to listen on (``127.0.0.1``, ``::1``...)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a loopback IP address such as 127.0.0.1 or ::1, got {text!r}"
        ) from None
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(
            f"must be a loopback address (127.0.0.1, ::1): {text} is not one"
        )
    return text


def loopback_url(text: str) -> str:
    """An absolute ``http(s)://`` URL to a loopback host, without credentials."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise argparse.ArgumentTypeError("is not a valid URL") from None
    if url.userinfo:
        raise argparse.ArgumentTypeError("must not contain credentials (see --webhook-basic)")
    if url.scheme not in ("http", "https") or not url.host:
        raise argparse.ArgumentTypeError(f"must be an absolute http:// URL, got {text!r}")
    if not _loopback(url.host):
        raise argparse.ArgumentTypeError(
            f"must be a loopback URL (127.0.0.1, ::1 or localhost): {url.host} is not one"
        )
    return text
