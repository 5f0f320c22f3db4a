"""``fibrecafe service-problems create|get|amend|cancel|accept|reject``.

Kept beside :mod:`fibrecafe_client.cli`, which registers these subcommands; every argument is
validated (by argparse converters and the resource's pure request builders) before a client,
and so a token request, exists.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TextIO

from . import _cli_args as check
from .errors import RequestValidationError, ServiceProblemWaitTimeout

if TYPE_CHECKING:
    from .models import ServiceProblem, ServiceProblemResolution

__all__ = ["COMMANDS", "add_commands"]

EXIT_OK = 0
EXIT_WAIT_TIMEOUT = 3


def _id(text: str) -> int:
    from .models._service_problems import positive_id  # noqa: PLC0415 - loads the models

    try:
        return positive_id("id", text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer id, got {text!r}") from None


def add_commands(
    commands: Any, add_credential_flags: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the ``service-problems`` command and its actions to ``commands`` (a subparsers)."""
    problems = commands.add_parser(
        "service-problems", help="raise, follow, amend, cancel and resolve service problems"
    )
    actions = problems.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=text)
        add_credential_flags(parser)
        parser.add_argument("--conversation-id", help="your own X-Conversation-ID")
        parser.add_argument(
            "--header", action="append", default=[], type=check.header, metavar="NAME:VALUE",
            help="extra header, e.g. X-Scenario:SERVICE_PROBLEM_REJECTED",
        )  # fmt: skip
        return parser

    def characteristics(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--characteristic", action="append", default=[], metavar="NAME=VALUE",
            type=check.name_value("=", "SERVICE_HAS_WORKED=false"),
            help="a characteristic, repeatable",
        )  # fmt: skip

    def waiting(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--wait", action="store_true", help="wait until terminal or waiting on you"
        )
        parser.add_argument(
            "--wait-timeout", type=check.positive_seconds, default=600.0, help="seconds (600)"
        )

    create = action("create", "raise a service problem")
    create.add_argument("--service-test-id", required=True, type=_id, help="the service test")
    create.add_argument("--problem-type", required=True, type=check.non_empty, help="e.g. OUTAGE")
    create.add_argument("--problem-text", required=True, help="the fault, 10-80 characters")
    create.add_argument("--service-id", required=True, help="id of the live service")
    create.add_argument("--supplier", required=True, help="supplier system id, e.g. FIBRECO")
    create.add_argument("--spec", help="service specification id, e.g. FTTP")
    characteristics(create)
    create.add_argument("--contact-name", required=True, help="primary contact's name")
    create.add_argument("--contact-email", help="primary contact's email")
    create.add_argument("--contact-phone", help="primary contact's phone number")
    create.add_argument("--external-id", help="your own reference (1-64 characters)")
    create.add_argument("--notes", help="notes for the supplier")
    create.add_argument("--scenario", help="CVT/sandbox X-Scenario, e.g. SERVICE_PROBLEM_RESOLVED")
    waiting(create)

    get = action("get", "fetch a service problem with its updates")
    get.add_argument("problem_id", metavar="ID", type=_id, help="service problem id")
    waiting(get)

    amend = action("amend", "amend an in-flight problem (answer INFORMATION_REQUIRED)")
    amend.add_argument("problem_id", metavar="ID", type=_id, help="service problem id")
    amend.add_argument("--problem-text", help="a new description (10-80 characters)")
    amend.add_argument("--notes", help="the information the supplier asked for")
    amend.add_argument("--hazards", help="hazards on site")
    amend.add_argument("--on-site-restrictions", help="access restrictions")
    amend.add_argument("--appointment-reservation-id", type=_id, help="a reserved appointment")
    characteristics(amend)

    cancel = action("cancel", "ask to cancel an in-flight problem")
    cancel.add_argument("problem_id", metavar="ID", type=_id, help="service problem id")
    cancel.add_argument("--reason", required=True, help="e.g. NO_LONGER_REQUIRED, ISSUE_RESOLVED")
    cancel.add_argument("--text", help="more context (1-1000 characters)")

    accept = action("accept", "accept a resolution (the RESOLUTION's id, not the problem's)")
    accept.add_argument("resolution_id", metavar="RESOLUTION_ID", type=_id, help="resolution id")
    accept.add_argument("--notes", help="tenant notes")

    reject = action("reject", "reject a resolution (the problem goes back to IN_PROGRESS)")
    reject.add_argument("resolution_id", metavar="RESOLUTION_ID", type=_id, help="resolution id")
    reject.add_argument("--notes", required=True, help="why (sent as tenantNotes)")


def _usage(exc: RequestValidationError) -> Exception:
    return check.UsageError(str(exc))


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"conversation_id": args.conversation_id, "extra_headers": dict(args.header) or None}


def _emit(out: TextIO, args: argparse.Namespace, thing: Any, label: str) -> None:
    if args.json:
        body = {label: thing.to_dict(), "requestId": thing.request_id,
                "conversationId": thing.conversation_id}  # fmt: skip
        out.write(json.dumps(body) + "\n")
        return
    out.write(f"{label} {thing.id}: {thing.status}\n")
    resolution_id = getattr(thing, "resolution_id", None)
    action = getattr(thing, "pending_action", None)
    if getattr(thing, "needs_tenant_action", False) and action is not None:
        out.write(f"  action {action.type}: {action.text or '-'}\n")
    if resolution_id is not None and label == "serviceProblem":
        out.write(f"  pending resolution {resolution_id}: fibrecafe service-problems accept ...\n")
    if thing.conversation_id:
        out.write(f"  request id {thing.request_id}, conversation id {thing.conversation_id}\n")


def _wait(client: Any, args: argparse.Namespace, out: TextIO, problem_id: int) -> int:
    try:
        final: ServiceProblem = client.service_problems.wait(
            problem_id, timeout=args.wait_timeout, conversation_id=args.conversation_id
        )
    except ServiceProblemWaitTimeout as exc:
        import sys  # noqa: PLC0415

        sys.stderr.write(f"error: {exc}\n")
        return EXIT_WAIT_TIMEOUT
    _emit(out, args, final, "serviceProblem")
    return EXIT_OK


def _cmd_create(args: argparse.Namespace, out: TextIO) -> int:
    from .resources.service_problems import build_request  # noqa: PLC0415

    contact = {"name": args.contact_name, "email": args.contact_email,
               "phoneNumber": args.contact_phone}  # fmt: skip
    headers = dict(args.header)
    if args.scenario:
        headers["X-Scenario"] = args.scenario
    try:
        request = build_request(
            service_test_id=args.service_test_id,
            problem_type=args.problem_type,
            problem_text=args.problem_text,
            service_id=args.service_id,
            supplier=args.supplier,
            service_specification=args.spec,
            characteristics=dict(args.characteristic) or {"SERVICE_HAS_WORKED": "false"},
            primary_contact={k: v for k, v in contact.items() if v is not None},
            external_identifier=args.external_id,
            notes=args.notes,
        )
    except RequestValidationError as exc:
        raise _usage(exc) from None
    with check.client_from(args) as client:
        problem = client.service_problems.create_from(
            request, conversation_id=args.conversation_id, extra_headers=headers or None
        )
        _emit(out, args, problem, "serviceProblem")
        return _wait(client, args, out, problem.id) if args.wait else EXIT_OK


def _cmd_get(args: argparse.Namespace, out: TextIO) -> int:
    with check.client_from(args) as client:
        if args.wait:
            return _wait(client, args, out, args.problem_id)
        _emit(out, args, client.service_problems.get(args.problem_id, **_options(args)),
              "serviceProblem")  # fmt: skip
    return EXIT_OK


def _cmd_amend(args: argparse.Namespace, out: TextIO) -> int:
    from .resources.service_problems import amend_call  # noqa: PLC0415

    fields: dict[str, Any] = {
        "problem_text": args.problem_text,
        "notes": args.notes,
        "hazards": args.hazards,
        "on_site_restrictions": args.on_site_restrictions,
        "appointment_reservation_id": args.appointment_reservation_id,
        "characteristics": dict(args.characteristic) or None,
    }
    try:
        amend_call(args.problem_id, **fields, **_options(args))
    except RequestValidationError as exc:
        raise _usage(exc) from None
    with check.client_from(args) as client:
        amendment = client.service_problems.amend(args.problem_id, **fields, **_options(args))
        _emit(out, args, amendment, "amendment")
    return EXIT_OK


def _cmd_cancel(args: argparse.Namespace, out: TextIO) -> int:
    from .resources.service_problems import cancel_call  # noqa: PLC0415

    fields = {"reason_code": args.reason, "text": args.text, **_options(args)}
    try:
        cancel_call(args.problem_id, **fields)
    except RequestValidationError as exc:
        raise _usage(exc) from None
    with check.client_from(args) as client:
        _emit(out, args, client.service_problems.cancel(args.problem_id, **fields),
              "cancellation")  # fmt: skip
    return EXIT_OK


def _decide(args: argparse.Namespace, out: TextIO, *, accept: bool) -> int:
    from .resources.service_problems import resolution_call  # noqa: PLC0415

    decision: Literal["ACCEPTED", "REJECTED"] = "ACCEPTED" if accept else "REJECTED"
    try:
        resolution_call(args.resolution_id, decision=decision, notes=args.notes, **_options(args))
    except RequestValidationError as exc:
        raise _usage(exc) from None
    with check.client_from(args) as client:
        problems = client.service_problems
        result: ServiceProblemResolution = (
            problems.accept_resolution(args.resolution_id, args.notes, **_options(args))
            if accept
            else problems.reject_resolution(args.resolution_id, notes=args.notes, **_options(args))
        )
        _emit(out, args, result, "resolution")
    return EXIT_OK


def _cmd_accept(args: argparse.Namespace, out: TextIO) -> int:
    return _decide(args, out, accept=True)


def _cmd_reject(args: argparse.Namespace, out: TextIO) -> int:
    return _decide(args, out, accept=False)


COMMANDS: dict[tuple[str, str | None], Callable[[argparse.Namespace, TextIO], int]] = {
    ("service-problems", "create"): _cmd_create,
    ("service-problems", "get"): _cmd_get,
    ("service-problems", "amend"): _cmd_amend,
    ("service-problems", "cancel"): _cmd_cancel,
    ("service-problems", "accept"): _cmd_accept,
    ("service-problems", "reject"): _cmd_reject,
}
