"""The ``fibrecafe`` command: service tests, KCIs, credentials, the sandbox and the demo.

Credentials come from flags or the ``FIBRECAFE_*`` environment variables (the same ones the
client reads). Every argument is checked before the first request (argparse converters in
:mod:`fibrecafe_client._cli_args`, then the request itself, built and validated before the
client exists). Failures print one line on stderr, never a traceback (a traceback could carry
a secret; ``fibrecafe --debug`` shows one for an unexpected error), and exit non-zero:

- 0: success;
- 1: the call failed (the gateway refused it, the network failed, the settings are missing or
  invalid, a file is unreadable or not a KCI, a port is taken, an extra is missing, a bug);
- 2: the command line was wrong (an unknown option, a missing or malformed value);
- 3: ``--wait`` gave up before the service test finished;
- 130: interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import stat
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import _cli_args as check
from . import _cli_problems as _problem_commands
from ._version import __version__
from .errors import FibreCafeError, RequestValidationError, ServiceTestWaitTimeout

if TYPE_CHECKING:
    from ._client import FibreCafe
    from .kci import Kci
    from .models import ServiceTest

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = check.EXIT_USAGE
EXIT_WAIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

_SANDBOX_EXTRA = "pip install 'fibrecafe-client[sandbox]'"


class _Failure(Exception):
    """A failure the command explains in one line (exit code 1)."""


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "gateway and credentials (default: the FIBRECAFE_* environment variables)"
    )
    group.add_argument(
        "--client-id", type=check.non_empty, help="OAuth2 client id (env FIBRECAFE_CLIENT_ID)"
    )
    group.add_argument(
        "--client-secret",
        type=check.non_empty,
        help="OAuth2 client secret (env FIBRECAFE_CLIENT_SECRET; prefer the environment: "
        "flags are visible to other users of the machine)",
    )
    group.add_argument("--environment", choices=["prod", "cvt"], help="gateway environment")
    group.add_argument("--base-url", help="API base URL, e.g. https://cvt.fibregateway.com/v1")
    group.add_argument("--token-url", help="token endpoint (default: <base-url>/auth/...)")
    group.add_argument("--scope", help="OAuth2 scope(s), space separated")
    group.add_argument(
        "--timeout", type=check.positive_seconds, help="per-request timeout in seconds"
    )
    group.add_argument("--json", action="store_true", help="machine-readable JSON output")


def _build_parser() -> argparse.ArgumentParser:
    parser = check.Parser(
        prog="fibrecafe",
        description="Fibre Cafe gateway from the command line: service tests, KCIs, the sandbox.",
        epilog="Exit codes: 0 ok, 1 failed, 2 bad command line, 3 --wait timed out.",
    )
    parser.add_argument("--version", action="version", version=f"fibrecafe {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of an unexpected error (it may contain secrets)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the whole service-test journey against a local sandbox gateway"
    )
    demo.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="NAME",
        type=check.scenario,
        help="scenario to run (repeatable; default: all). e.g. GREEN or SERVICE_TEST_RED",
    )
    demo.add_argument(
        "--kci-delay",
        type=check.non_negative_seconds,
        default=0.2,
        help="seconds between KCIs (default 0.2)",
    )
    demo.add_argument("--json", action="store_true", help="one JSON object per line")

    sandbox = commands.add_parser("sandbox", help="run the local sandbox gateway until Ctrl-C")
    sandbox.add_argument(
        "--host", type=check.loopback_host, default="127.0.0.1", help="loopback address (127.0.0.1)"
    )
    sandbox.add_argument(
        "--port", type=check.port, default=8080, help="port (0 = any free port; default 8080)"
    )
    sandbox.add_argument(
        "--client-id", type=check.non_empty, default="sandbox-client", help="accepted client id"
    )
    sandbox.add_argument(
        "--client-secret",
        type=check.non_empty,
        default="sandbox-secret",
        help="accepted client secret",
    )
    sandbox.add_argument(
        "--kci-delay", type=check.non_negative_seconds, help="default seconds between KCIs"
    )
    sandbox.add_argument(
        "--token-lifetime", type=check.positive_seconds, help="token lifetime in seconds"
    )
    sandbox.add_argument(
        "--webhook",
        action="append",
        default=[],
        type=check.loopback_url,
        metavar="URL",
        help="deliver KCIs to URL (a loopback URL; repeatable)",
    )
    webhook_auth = sandbox.add_mutually_exclusive_group()
    webhook_auth.add_argument(
        "--webhook-basic",
        type=check.basic_credentials,
        metavar="USER:PASSWORD",
        help="Basic credentials for the webhooks",
    )
    webhook_auth.add_argument(
        "--webhook-bearer", type=check.non_empty, metavar="TOKEN", help="bearer token for webhooks"
    )

    tests = commands.add_parser("service-tests", help="create and fetch service tests")
    tests_commands = tests.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = tests_commands.add_parser("create", help="create a service test")
    _add_credential_flags(create)
    create.add_argument("--service-id", required=True, help="id of the live service")
    create.add_argument(
        "--problem-type",
        required=True,
        type=check.problem_type,
        help="CPE, CUSTOMER, OUTAGE, PERFORMANCE, STABILITY or SYNCHRONISATION",
    )
    create.add_argument("--spec", required=True, help="service specification id, e.g. FTTP")
    create.add_argument("--supplier", required=True, help="supplier system id, e.g. FIBRECO")
    create.add_argument(
        "--characteristic",
        action="append",
        default=[],
        type=check.name_value("=", "SERVICE_HAS_WORKED=true"),
        metavar="NAME=VALUE",
        help="a characteristic, repeatable (e.g. SERVICE_HAS_WORKED=true)",
    )
    create.add_argument("--conversation-id", help="your own X-Conversation-ID")
    create.add_argument(
        "--scenario", type=check.scenario, help="CVT/sandbox scenario (X-Scenario header)"
    )
    create.add_argument(
        "--kci-delay", type=check.non_negative_seconds, help="CVT/sandbox X-Kci-Delay seconds"
    )
    create.add_argument(
        "--header",
        action="append",
        default=[],
        type=check.header,
        metavar="NAME:VALUE",
        help="extra header",
    )
    create.add_argument("--wait", action="store_true", help="wait until the test finishes")
    create.add_argument(
        "--wait-timeout", type=check.positive_seconds, default=600.0, help="seconds (600)"
    )

    get = tests_commands.add_parser("get", help="fetch a service test")
    _add_credential_flags(get)
    get.add_argument("test_id", metavar="ID", type=check.service_test_id, help="service test id")
    get.add_argument("--wait", action="store_true", help="wait until the test finishes")
    get.add_argument(
        "--wait-timeout", type=check.positive_seconds, default=600.0, help="seconds (600)"
    )

    kci = commands.add_parser("kci", help="work with KCI payloads")
    kci_commands = kci.add_subparsers(dest="action", required=True, metavar="ACTION")
    parse = kci_commands.add_parser("parse", help="validate and pretty-print a KCI")
    parse.add_argument("file", metavar="FILE", help="a KCI JSON file, or - for stdin")
    parse.add_argument("--json", action="store_true", help="print the KCI as wire JSON only")
    parse.add_argument(
        "--max-bytes", type=check.positive_int, default=1_048_576, help="size limit (default 1 MiB)"
    )

    token = commands.add_parser(
        "token", help="check credentials: fetch a token and show its expiry and scope"
    )
    _add_credential_flags(token)
    _problem_commands.add_commands(commands, _add_credential_flags)
    return parser


def _require_sandbox_extra(command: str) -> None:
    """One line naming the extra, instead of an ImportError deep in the sandbox."""
    try:
        importlib.import_module("uvicorn")
    except ImportError:
        raise _Failure(
            f"fibrecafe {command} needs the sandbox extra (uvicorn): {_SANDBOX_EXTRA}"
        ) from None


# -- rendering -------------------------------------------------------------------------------


def _describe_test(test: ServiceTest) -> list[str]:
    lines = [
        f"service test {test.id}: {test.status}",
        f"  service {test.service_id} ({test.service_specification.id}), "
        f"supplier {test.supplier or '-'}, problem {test.problem_type}",
    ]
    outcome = test.result.test_outcome if test.result else None
    if outcome is not None:
        lines.append(f"  result {outcome.test_result} {outcome.code or ''}".rstrip())
        if outcome.description:
            lines.append(f"  {outcome.description}")
    if test.status == "COMPLETED":
        ends = test.problem_window_ends
        if test.may_raise_problem():
            lines.append(f"  a service problem may be raised until {ends}")
        else:
            lines.append("  no service problem may be raised from this test")
    if test.conversation_id:
        lines.append(f"  request id {test.request_id}, conversation id {test.conversation_id}")
    return lines


def _test_json(test: ServiceTest) -> dict[str, Any]:
    return {
        "serviceTest": test.to_dict(),
        "requestId": test.request_id,
        "conversationId": test.conversation_id,
    }


def _emit(out: TextIO, args: argparse.Namespace, test: ServiceTest) -> None:
    if args.json:
        out.write(json.dumps(_test_json(test)) + "\n")
    else:
        out.write("\n".join(_describe_test(test)) + "\n")


def _live_view(out: TextIO, args: argparse.Namespace) -> Callable[[ServiceTest], None]:
    """Print each status the wait observes, with the time since waiting began."""
    started = time.monotonic()

    def show(test: ServiceTest) -> None:
        elapsed = time.monotonic() - started
        if args.json:
            out.write(
                json.dumps(
                    {
                        "event": "status",
                        "elapsed": round(elapsed, 3),
                        "id": test.id,
                        "status": str(test.status),
                    }
                )
                + "\n"
            )
        else:
            out.write(f"  {elapsed:6.1f}s  {test.status}\n")
        out.flush()

    return show


def describe_kci(kci: Kci) -> str:
    """One line for a KCI: entity, sequence, update type, reason and entity status."""
    reason: str | None = kci.information.type if kci.information is not None else None
    if kci.action is not None:
        reason = kci.action.type
    if kci.error is not None:
        reason = kci.error.code
    return (
        f"KCI {kci.entity_type} {kci.entity_id} #{kci.sequence_number} "
        f"{kci.update_type}/{reason or '-'} -> {kci.entity_status}"
    )


# -- commands --------------------------------------------------------------------------------


def _cmd_create(args: argparse.Namespace, out: TextIO) -> int:
    from .resources.service_tests import create_call  # noqa: PLC0415 - loads the models

    headers = dict(args.header)
    if args.scenario:
        headers["X-Scenario"] = args.scenario
    if args.kci_delay is not None:
        headers["X-Kci-Delay"] = f"{args.kci_delay:g}"
    request: dict[str, Any] = {
        "service_id": args.service_id,
        "problem_type": args.problem_type,
        "service_specification": args.spec,
        "supplier": args.supplier,
        "characteristics": dict(args.characteristic),
        "conversation_id": args.conversation_id,
        "extra_headers": headers or None,
    }
    try:  # the whole request is checked before the client (and its token) exists
        create_call(**request)
    except RequestValidationError as exc:
        raise check.UsageError(str(exc)) from None
    with check.client_from(args) as client:
        test = client.service_tests.create(**request)
        _emit(out, args, test)
        if args.wait:
            return _wait_and_emit(client, args, out, test.id, test.conversation_id)
    return EXIT_OK


def _wait_and_emit(
    client: FibreCafe,
    args: argparse.Namespace,
    out: TextIO,
    test_id: int | str,
    conversation_id: str | None,
) -> int:
    if not args.json:
        out.write(f"waiting for service test {test_id} (up to {args.wait_timeout:g}s)\n")
    try:
        final = client.service_tests.wait(
            test_id,
            timeout=args.wait_timeout,
            on_update=_live_view(out, args),
            conversation_id=conversation_id,
        )
    except ServiceTestWaitTimeout as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_WAIT_TIMEOUT
    _emit(out, args, final)
    return EXIT_OK


def _cmd_get(args: argparse.Namespace, out: TextIO) -> int:
    with check.client_from(args) as client:
        if args.wait:
            return _wait_and_emit(client, args, out, args.test_id, None)
        _emit(out, args, client.service_tests.get(args.test_id))
    return EXIT_OK


def _cmd_kci_parse(args: argparse.Namespace, out: TextIO) -> int:
    from .kci import parse_kci  # noqa: PLC0415 - only this command needs it

    size: int | None = None  # the true size, when the input is a regular file
    if args.file == "-":
        body = sys.stdin.buffer.read(args.max_bytes + 1)
    else:
        try:
            with Path(args.file).open("rb") as handle:
                status = os.fstat(handle.fileno())
                size = status.st_size if stat.S_ISREG(status.st_mode) else None
                body = handle.read(args.max_bytes + 1)
        except OSError as exc:
            raise _Failure(f"cannot read {args.file}: {exc.strerror or exc}") from None
    if len(body) > args.max_bytes:  # only max_bytes + 1 were read: say what is known
        what = f"{size} bytes" if size is not None else f"more than {args.max_bytes} bytes"
        raise _Failure(
            f"invalid KCI: the body is {what}, over the {args.max_bytes}-byte limit (--max-bytes)"
        )
    kci = parse_kci(body, max_bytes=args.max_bytes)
    if args.json:
        out.write(kci.to_json() + "\n")
    else:
        out.write(describe_kci(kci) + "\n")
        out.write(kci.to_json(indent=2) + "\n")
    return EXIT_OK


def _cmd_token(args: argparse.Namespace, out: TextIO) -> int:
    with check.client_from(args) as client:
        info = client.check_credentials()
    if args.json:
        out.write(
            json.dumps(
                {
                    "tokenType": info.token_type,
                    "scope": info.scope,
                    "expiresIn": info.expires_in,
                    "expiresAt": info.expires_at.isoformat(),
                }
            )
            + "\n"
        )
    else:
        out.write(
            f"credentials OK: {info.token_type} token, scope {info.scope or '(default)'}, "
            f"expires in {info.expires_in:.0f}s (at {info.expires_at.isoformat()})\n"
        )
    return EXIT_OK


def _cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    _require_sandbox_extra("sandbox")
    from ._demo import run_sandbox_forever  # noqa: PLC0415 - needs the sandbox extra

    try:
        return run_sandbox_forever(args, out)
    except ValueError as exc:  # a setting the sandbox refuses
        raise check.UsageError(str(exc)) from None
    except OSError as exc:  # the port is taken, or not ours to bind
        raise _Failure(f"cannot start the sandbox: {exc.strerror or exc}") from None


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    _require_sandbox_extra("demo")
    from ._demo import run_demo  # noqa: PLC0415 - needs the sandbox extra

    return run_demo(out, scenarios=args.scenarios, kci_delay=args.kci_delay, as_json=args.json)


_COMMANDS: dict[tuple[str, str | None], Callable[[argparse.Namespace, TextIO], int]] = {
    ("service-tests", "create"): _cmd_create,
    ("service-tests", "get"): _cmd_get,
    ("kci", "parse"): _cmd_kci_parse,
    ("token", None): _cmd_token,
    ("sandbox", None): _cmd_sandbox,
    ("demo", None): _cmd_demo,
    **_problem_commands.COMMANDS,
}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it).

    Nothing escapes as a traceback: a usage error is one line and exit code 2, any failure one
    line and exit code 1 (an unexpected exception is named by its type only, since its message
    could hold a secret; ``--debug`` prints its traceback).
    """
    stream = out if out is not None else sys.stdout
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return EXIT_OK if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    command = _COMMANDS[(args.command, getattr(args, "action", None))]
    try:
        return command(args, stream)
    except check.UsageError as exc:
        sys.stderr.write(f"fibrecafe: error: {_one_line(str(exc))}\n")
        return EXIT_USAGE
    except (FibreCafeError, _Failure) as exc:
        sys.stderr.write(f"error: {_one_line(str(exc))}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: never a traceback
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__} (a bug in fibrecafe-client, please report "
            "it); run 'fibrecafe --debug ...' for the traceback\n"
        )
        return EXIT_FAILED


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
