"""The ``fibrecafe`` command: service tests, KCIs, credentials, the sandbox and the demo.

Credentials come from flags or the ``FIBRECAFE_*`` environment variables (the same ones the
client reads). Failures print one line on stderr, never a traceback (a traceback could carry a
secret), and exit non-zero:

- 0: success;
- 1: the call failed (the gateway refused it, the network failed, the input was invalid);
- 2: the command line was wrong;
- 3: ``--wait`` gave up before the service test finished;
- 130: interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._version import __version__
from .errors import FibreCafeError, ServiceTestWaitTimeout

if TYPE_CHECKING:
    from ._client import FibreCafe
    from .kci import Kci
    from .models import ServiceTest

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WAIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

_SCENARIO_PREFIX = "SERVICE_TEST_"


class _UsageError(Exception):
    """A command-line mistake found after argparse (exit code 2)."""


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "gateway and credentials (default: the FIBRECAFE_* environment variables)"
    )
    group.add_argument("--client-id", help="OAuth2 client id (env FIBRECAFE_CLIENT_ID)")
    group.add_argument(
        "--client-secret",
        help="OAuth2 client secret (env FIBRECAFE_CLIENT_SECRET; prefer the environment: "
        "flags are visible to other users of the machine)",
    )
    group.add_argument("--environment", choices=["prod", "cvt"], help="gateway environment")
    group.add_argument("--base-url", help="API base URL, e.g. https://cvt.fibregateway.com/v1")
    group.add_argument("--token-url", help="token endpoint (default: <base-url>/auth/...)")
    group.add_argument("--scope", help="OAuth2 scope(s), space separated")
    group.add_argument("--timeout", type=float, help="per-request timeout in seconds")
    group.add_argument("--json", action="store_true", help="machine-readable JSON output")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fibrecafe",
        description="Fibre Cafe gateway from the command line: service tests, KCIs, the sandbox.",
        epilog="Exit codes: 0 ok, 1 failed, 2 bad command line, 3 --wait timed out.",
    )
    parser.add_argument("--version", action="version", version=f"fibrecafe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the whole service-test journey against a local sandbox gateway"
    )
    demo.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="NAME",
        help="scenario to run (repeatable; default: all). e.g. GREEN or SERVICE_TEST_RED",
    )
    demo.add_argument(
        "--kci-delay", type=float, default=0.2, help="seconds between KCIs (default 0.2)"
    )
    demo.add_argument("--json", action="store_true", help="one JSON object per line")

    sandbox = commands.add_parser("sandbox", help="run the local sandbox gateway until Ctrl-C")
    sandbox.add_argument("--host", default="127.0.0.1", help="loopback address (127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    sandbox.add_argument("--client-id", default="sandbox-client", help="accepted client id")
    sandbox.add_argument("--client-secret", default="sandbox-secret", help="accepted client secret")
    sandbox.add_argument("--kci-delay", type=float, help="default seconds between KCIs")
    sandbox.add_argument("--token-lifetime", type=float, help="token lifetime in seconds")
    sandbox.add_argument(
        "--webhook", action="append", default=[], metavar="URL", help="deliver KCIs to URL"
    )
    sandbox.add_argument(
        "--webhook-basic", metavar="USER:PASSWORD", help="Basic credentials for the webhooks"
    )
    sandbox.add_argument("--webhook-bearer", metavar="TOKEN", help="bearer token for webhooks")

    tests = commands.add_parser("service-tests", help="create and fetch service tests")
    tests_commands = tests.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = tests_commands.add_parser("create", help="create a service test")
    _add_credential_flags(create)
    create.add_argument("--service-id", required=True, help="id of the live service")
    create.add_argument(
        "--problem-type",
        required=True,
        help="CPE, CUSTOMER, OUTAGE, PERFORMANCE, STABILITY or SYNCHRONISATION",
    )
    create.add_argument("--spec", required=True, help="service specification id, e.g. FTTP")
    create.add_argument("--supplier", required=True, help="supplier system id, e.g. FIBRECO")
    create.add_argument(
        "--characteristic",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a characteristic, repeatable (e.g. SERVICE_HAS_WORKED=true)",
    )
    create.add_argument("--conversation-id", help="your own X-Conversation-ID")
    create.add_argument("--scenario", help="CVT/sandbox scenario (X-Scenario header)")
    create.add_argument("--kci-delay", type=float, help="CVT/sandbox X-Kci-Delay seconds")
    create.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="extra header"
    )
    create.add_argument("--wait", action="store_true", help="wait until the test finishes")
    create.add_argument("--wait-timeout", type=float, default=600.0, help="seconds (600)")

    get = tests_commands.add_parser("get", help="fetch a service test")
    _add_credential_flags(get)
    get.add_argument("test_id", metavar="ID", help="service test id")
    get.add_argument("--wait", action="store_true", help="wait until the test finishes")
    get.add_argument("--wait-timeout", type=float, default=600.0, help="seconds (600)")

    kci = commands.add_parser("kci", help="work with KCI payloads")
    kci_commands = kci.add_subparsers(dest="action", required=True, metavar="ACTION")
    parse = kci_commands.add_parser("parse", help="validate and pretty-print a KCI")
    parse.add_argument("file", metavar="FILE", help="a KCI JSON file, or - for stdin")
    parse.add_argument("--json", action="store_true", help="print the KCI as wire JSON only")
    parse.add_argument(
        "--max-bytes", type=int, default=1_048_576, help="size limit (default 1 MiB)"
    )

    token = commands.add_parser(
        "token", help="check credentials: fetch a token and show its expiry and scope"
    )
    _add_credential_flags(token)
    return parser


def _client_from(args: argparse.Namespace) -> FibreCafe:
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


def _pairs(values: Sequence[str], separator: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition(separator)
        if not sep or not name.strip():
            raise _UsageError(f"{what} must look like NAME{separator}VALUE, got {value!r}")
        pairs[name.strip()] = rest.strip() if separator == ":" else rest
    return pairs


def _scenario_name(value: str) -> str:
    name = value.strip().upper()
    return name if name.startswith(_SCENARIO_PREFIX) else _SCENARIO_PREFIX + name


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
    reason = kci.information.type if kci.information is not None else None
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
    headers = _pairs(args.header, ":", "--header")
    if args.scenario:
        headers["X-Scenario"] = _scenario_name(args.scenario)
    if args.kci_delay is not None:
        headers["X-Kci-Delay"] = f"{args.kci_delay:g}"
    characteristics = _pairs(args.characteristic, "=", "--characteristic")
    with _client_from(args) as client:
        test = client.service_tests.create(
            service_id=args.service_id,
            problem_type=args.problem_type,
            service_specification=args.spec,
            supplier=args.supplier,
            characteristics=characteristics,
            conversation_id=args.conversation_id,
            extra_headers=headers or None,
        )
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
    with _client_from(args) as client:
        if args.wait:
            return _wait_and_emit(client, args, out, args.test_id, None)
        _emit(out, args, client.service_tests.get(args.test_id))
    return EXIT_OK


def _cmd_kci_parse(args: argparse.Namespace, out: TextIO) -> int:
    from .kci import parse_kci  # noqa: PLC0415 - only this command needs it

    if args.file == "-":
        body = sys.stdin.buffer.read(args.max_bytes + 1)
    else:
        try:
            with Path(args.file).open("rb") as handle:
                body = handle.read(args.max_bytes + 1)
        except OSError as exc:
            sys.stderr.write(f"error: cannot read {args.file}: {exc.strerror}\n")
            return EXIT_FAILED
    kci = parse_kci(body, max_bytes=args.max_bytes)
    if args.json:
        out.write(kci.to_json() + "\n")
    else:
        out.write(describe_kci(kci) + "\n")
        out.write(kci.to_json(indent=2) + "\n")
    return EXIT_OK


def _cmd_token(args: argparse.Namespace, out: TextIO) -> int:
    with _client_from(args) as client:
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
    from ._demo import run_sandbox_forever  # noqa: PLC0415 - needs the sandbox extra

    if args.webhook_basic and args.webhook_bearer:
        raise _UsageError("use --webhook-basic or --webhook-bearer, not both")
    if args.webhook_basic and ":" not in args.webhook_basic:
        raise _UsageError("--webhook-basic must look like USER:PASSWORD")
    try:
        return run_sandbox_forever(args, out)
    except ValueError as exc:  # a bad webhook URL or setting
        raise _UsageError(str(exc)) from None


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import run_demo  # noqa: PLC0415 - needs the sandbox extra

    scenarios = [_scenario_name(s) for s in args.scenarios] if args.scenarios else None
    return run_demo(out, scenarios=scenarios, kci_delay=args.kci_delay, as_json=args.json)


_COMMANDS: dict[tuple[str, str | None], Callable[[argparse.Namespace, TextIO], int]] = {
    ("service-tests", "create"): _cmd_create,
    ("service-tests", "get"): _cmd_get,
    ("kci", "parse"): _cmd_kci_parse,
    ("token", None): _cmd_token,
    ("sandbox", None): _cmd_sandbox,
    ("demo", None): _cmd_demo,
}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    stream = out if out is not None else sys.stdout
    args = _build_parser().parse_args(argv)
    command = _COMMANDS[(args.command, getattr(args, "action", None))]
    try:
        return command(args, stream)
    except _UsageError as exc:
        sys.stderr.write(f"fibrecafe: error: {exc}\n")
        return EXIT_USAGE
    except FibreCafeError as exc:
        sys.stderr.write(f"error: {_one_line(str(exc))}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
