"""The sandbox's service problems on real sockets, driven by the SDK: every scenario's KCI
sequence, the tenant's decisions, amendments and cancellations, and the gateway-side checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fibrecafe_client import (
    FibreCafe,
    NotFoundError,
    ServiceProblem,
    ServiceProblemCharacteristics,
    ServiceProblemKci,
    ServiceProblemStatus,
    ServiceProblemWarning,
    ServiceTest,
    UnprocessableEntityError,
    parse_kci,
)
from fibrecafe_client.sandbox import KciCapture, Sandbox

CONTACT = {"name": "Jane Bloggs", "email": "jane@bloggs.com", "phoneNumber": "01234 567890"}


def _test(client: FibreCafe, scenario: str = "SERVICE_TEST_RED") -> ServiceTest:
    created = client.service_tests.create(
        service_id="BBEU00537760",
        problem_type="OUTAGE",
        service_specification="FTTP",
        supplier="FIBRECO",
        characteristics={"SERVICE_HAS_WORKED": "false"},
        extra_headers={"X-Scenario": scenario},
    )
    return client.service_tests.wait(created.id, timeout=10, poll_interval=0.01)


def _raise(
    client: FibreCafe, test: ServiceTest, scenario: str | None = None, **more: Any
) -> ServiceProblem:
    headers = {} if scenario is None else {"X-Scenario": scenario}
    request = test.problem_request(
        problem_text="Service is completely down.",
        characteristics=ServiceProblemCharacteristics(service_has_worked=False),
        primary_contact=CONTACT,
    )
    return client.service_problems.create_from(request, extra_headers=headers, **more)


def _kcis(capture: KciCapture, problem_id: int, count: int) -> list[ServiceProblemKci]:
    got = capture.wait_for(lambda ks: sum(k.test_id == problem_id for k in ks) >= count)
    parsed = [k.parse() for k in got if k.test_id == problem_id]
    assert all(isinstance(k, ServiceProblemKci) for k in parsed)
    return parsed  # type: ignore[return-value]


def _summary(kcis: list[ServiceProblemKci]) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for k in kcis:
        part = k.action or k.information
        out.append(
            (str(k.entity_status), str(k.update_type), None if part is None else str(part.type))
        )
    return out


START = [
    ("SENT_TO_SUPPLIER", "INFORMATIONAL", "UPDATE"),
    ("ACKNOWLEDGED", "INFORMATIONAL", "ACKNOWLEDGED"),
    ("IN_PROGRESS", "INFORMATIONAL", "UPDATE"),
]
CONFIRM = ("RESOLVED", "ACTION_REQUIRED", "CONFIRM")


def test_resolved_then_accepted_completes(
    client: FibreCafe, capture: KciCapture, sandbox: Sandbox
) -> None:
    problem = _raise(client, _test(client), conversation_id="conv-problem-1")
    assert problem.status is ServiceProblemStatus.RECEIVED_BY_GATEWAY
    assert problem.id >= 50_000_001
    kcis = _kcis(capture, problem.id, 4)
    assert _summary(kcis) == [*START, CONFIRM]
    confirm = kcis[-1]
    assert confirm.is_confirm
    assert confirm.resolution_id is not None
    assert [k.sequence_number for k in kcis] == [1, 2, 3, 4]
    assert kcis[1].entity.supplier_identifier is not None
    assert all(k.conversation_id is None for k in kcis)  # parsed outside a receiver
    deliveries = [d for d in capture.kcis() if d.test_id == problem.id]
    assert {d.conversation_id for d in deliveries} == {"conv-problem-1"}

    waited = client.service_problems.wait(problem.id, timeout=10, poll_interval=0.01)
    assert waited.status is ServiceProblemStatus.RESOLVED
    assert waited.resolution_id == confirm.resolution_id  # GET's updates[] carry it too

    resolution = client.service_problems.accept_resolution(confirm, "Working again")
    assert resolution.status == "ACCEPTED"
    assert resolution.tenant_notes == "Working again"
    kcis = _kcis(capture, problem.id, 5)
    assert _summary(kcis)[-1] == ("COMPLETED", "INFORMATIONAL", "COMPLETED")
    final = client.service_problems.wait(problem.id, timeout=10, poll_interval=0.01)
    assert final.is_terminal
    assert final.status is ServiceProblemStatus.COMPLETED
    assert len(final.updates) == 5
    with pytest.raises(UnprocessableEntityError, match="already ACCEPTED"):
        client.service_problems.reject_resolution(confirm, notes="changed my mind")


def test_rejecting_reopens_and_the_supplier_resolves_again(
    client: FibreCafe, capture: KciCapture
) -> None:
    problem = _raise(client, _test(client, "SERVICE_TEST_AMBER"))
    first = _kcis(capture, problem.id, 4)[-1]
    client.service_problems.reject_resolution(first, notes="Still dropping every evening")
    kcis = _kcis(capture, problem.id, 6)
    assert _summary(kcis)[4:] == [("IN_PROGRESS", "INFORMATIONAL", "RESUMED"), CONFIRM]
    second = kcis[-1]
    assert second.resolution_id not in (None, first.resolution_id)
    client.service_problems.accept_resolution(second)
    assert _summary(_kcis(capture, problem.id, 7))[-1][0] == "COMPLETED"


def test_information_required_is_answered_by_an_amendment(
    client: FibreCafe, capture: KciCapture
) -> None:
    problem = _raise(client, _test(client), "SERVICE_PROBLEM_INFORMATION_REQUIRED")
    kcis = _kcis(capture, problem.id, 4)
    assert _summary(kcis)[-1] == ("PENDING", "ACTION_REQUIRED", "INFORMATION_REQUIRED")
    assert kcis[-1].needs_tenant_action
    assert not kcis[-1].is_confirm
    amendment = client.service_problems.amend(
        problem.id, notes="Key safe code 1234; call Jane before arriving."
    )
    assert amendment.status == "RECEIVED_BY_GATEWAY"
    kcis = _kcis(capture, problem.id, 6)
    assert _summary(kcis)[4:] == [("IN_PROGRESS", "INFORMATIONAL", "AMENDED"), CONFIRM]
    assert kcis[4].entity.notes == "Key safe code 1234; call Jane before arriving."


def test_auto_completion_warns_then_completes(client: FibreCafe, capture: KciCapture) -> None:
    problem = _raise(client, _test(client), "SERVICE_PROBLEM_AUTO_COMPLETE")
    kcis = _kcis(capture, problem.id, 6)
    assert _summary(kcis)[3:] == [
        CONFIRM,
        ("RESOLVED", "INFORMATIONAL", "ADDITIONAL"),
        ("COMPLETED", "INFORMATIONAL", "COMPLETED"),
    ]
    assert kcis[4].information is not None
    assert "24 hrs" in (kcis[4].information.text or "")
    with pytest.raises(UnprocessableEntityError, match="already ACCEPTED"):
        client.service_problems.reject_resolution(kcis[3], notes="too late")


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "SERVICE_PROBLEM_REJECTED",
            [START[0], ("REJECTED", "INFORMATIONAL", "TERMINATED")],
        ),
        ("SERVICE_PROBLEM_FAILED_TO_SEND", [("FAILED_TO_SEND", "ERROR", None)]),
    ],
)
def test_supplier_rejection_and_failure_to_send_are_terminal(
    client: FibreCafe, capture: KciCapture, scenario: str, expected: list[Any]
) -> None:
    problem = _raise(client, _test(client), scenario)
    kcis = _kcis(capture, problem.id, len(expected))
    assert _summary(kcis) == expected
    assert kcis[-1].is_terminal
    if scenario.endswith("FAILED_TO_SEND"):
        assert kcis[-1].error is not None
        assert kcis[-1].error.code == "SUPPLIER_FAULT"
        assert kcis[-1].issued_on is None  # a gateway-originated KCI
    with pytest.raises(UnprocessableEntityError, match="not in flight"):
        client.service_problems.cancel(problem.id, reason_code="NO_LONGER_REQUIRED")


def test_cancellation_accepted_ends_the_problem(
    client: FibreCafe, capture: KciCapture, sandbox: Sandbox
) -> None:
    problem = _raise(client, _test(client))
    _kcis(capture, problem.id, 4)  # resolved, waiting on the tenant
    cancellation = client.service_problems.cancel(
        problem.id, reason_code="ISSUE_RESOLVED", text="It came back by itself."
    )
    assert cancellation.reason_code == "ISSUE_RESOLVED"
    kcis = _kcis(capture, problem.id, 5)
    assert _summary(kcis)[-1] == ("CANCELLED", "INFORMATIONAL", "CANCELLED")
    assert kcis[-1].is_terminal
    final = client.service_problems.get(problem.id)
    assert final.status is ServiceProblemStatus.CANCELLED


@pytest.mark.parametrize("what", ["cancellation", "amendment"])
def test_a_rejected_request_is_a_resubmit_action(
    client: FibreCafe, capture: KciCapture, what: str
) -> None:
    problem = _raise(client, _test(client))
    _kcis(capture, problem.id, 4)
    if what == "cancellation":
        client.service_problems.cancel(
            problem.id, reason_code="OTHER", extra_headers={"X-Scenario": "CANCELLATION_REJECTED"}
        )
    else:
        client.service_problems.amend(
            problem.id, hazards="Dog on site", extra_headers={"X-Scenario": "AMENDMENT_REJECTED"}
        )
    kcis = _kcis(capture, problem.id, 5)
    assert _summary(kcis)[-1] == ("RESOLVED", "ACTION_REQUIRED", "RESUBMIT")
    assert kcis[-1].action is not None
    assert kcis[-1].action.code == f"{what.upper()}_REJECTED"


@pytest.mark.parametrize("scenario", ["SERVICE_TEST_GREEN", "SERVICE_TEST_FAILED"])
def test_no_problem_after_a_green_or_failed_test(client: FibreCafe, scenario: str) -> None:
    test = _test(client, scenario)
    with (
        pytest.warns(ServiceProblemWarning, match="does not allow"),
        pytest.raises(UnprocessableEntityError, match="does not allow"),
    ):
        _raise(client, test)


def test_no_problem_past_the_window_or_for_another_service(
    client: FibreCafe, sandbox: Sandbox
) -> None:
    test = _test(client)
    desk = sandbox.app.problems
    desk.clock = lambda: datetime.now(UTC) + timedelta(hours=2, minutes=1)
    try:
        with pytest.raises(UnprocessableEntityError, match="expired"):
            _raise(client, test)
    finally:
        desk.clock = lambda: datetime.now(UTC)
    with pytest.raises(UnprocessableEntityError, match="is for service"):
        client.service_problems.create(
            service_test_id=test.id,
            problem_type="OUTAGE",
            problem_text="Service is completely down.",
            service_id="OTHER0000001",
            supplier="FIBRECO",
            characteristics={"SERVICE_HAS_WORKED": "false"},
            primary_contact=CONTACT,
        )
    with pytest.raises(UnprocessableEntityError, match="No service test"):
        client.service_problems.create(
            service_test_id=999_999,
            problem_type="CPE",
            problem_text="Router lights all off.",
            service_id="BBEU00537760",
            supplier="FIBRECO",
            characteristics={"SERVICE_HAS_WORKED": "false"},
            primary_contact=CONTACT,
        )


def test_unknown_ids_and_scenarios(client: FibreCafe) -> None:
    with pytest.raises(NotFoundError):
        client.service_problems.get(12345)
    with pytest.raises(UnprocessableEntityError, match="No service problem resolution"):
        client.service_problems.accept_resolution(777)
    test = _test(client)
    with pytest.raises(UnprocessableEntityError, match="Unknown X-Scenario"):
        _raise(client, test, "SERVICE_PROBLEM_NOPE")


def test_the_sandbox_only_emits_kcis_the_sdk_parses(client: FibreCafe, capture: KciCapture) -> None:
    problem = _raise(client, _test(client))
    for delivery in capture.wait_for(lambda ks: sum(k.test_id == problem.id for k in ks) >= 4):
        kci = parse_kci(delivery.raw)
        assert parse_kci(kci.to_dict()) == kci


def test_cli_journey_create_wait_accept(sandbox: Sandbox, client: FibreCafe) -> None:
    import io
    import re

    from fibrecafe_client.cli import main

    kw = sandbox.client_kwargs()
    flags = ["--client-id", kw["client_id"], "--client-secret", kw["client_secret"],
             "--base-url", kw["base_url"]]  # fmt: skip
    test = _test(client)
    out = io.StringIO()
    code = main(
        ["service-problems", "create", *flags, "--service-test-id", str(test.id),
         "--problem-type", "OUTAGE", "--problem-text", "Service is completely down.",
         "--service-id", "BBEU00537760", "--supplier", "FIBRECO", "--spec", "FTTP",
         "--contact-name", "Jane", "--wait", "--wait-timeout", "10"],
        out=out,
    )  # fmt: skip
    assert code == 0
    text = out.getvalue()
    assert "RESOLVED" in text
    found = re.search(r"pending resolution (\d+)", text)
    assert found is not None
    assert main(["service-problems", "reject", *flags, found.group(1)], out=io.StringIO()) == 2
    out = io.StringIO()
    assert main(["service-problems", "accept", *flags, found.group(1), "--json"], out=out) == 0
    assert '"status": "ACCEPTED"' in out.getvalue()
    problem_id = re.search(r"serviceProblem (\d+)", text)
    assert problem_id is not None
    final = client.service_problems.wait(
        int(problem_id.group(1)), until=lambda p: p.is_terminal, timeout=10, poll_interval=0.01
    )
    assert final.status is ServiceProblemStatus.COMPLETED
    assert final.resolution_id is None  # decided: no longer pending


def test_demo_goes_on_from_the_red_test_to_a_completed_problem() -> None:
    import io
    import json

    from fibrecafe_client.cli import main

    out = io.StringIO()
    argv = ["demo", "--json", "--kci-delay", "0.01", "--scenario", "RED", "--scenario", "GREEN"]
    assert main(argv, out=out) == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    problem_kcis = [
        r["kci"]
        for r in records
        if r["event"] == "kci" and r["kci"]["entityType"] == "SERVICE_PROBLEM"
    ]
    assert [k["entity"]["status"] for k in problem_kcis] == [
        "SENT_TO_SUPPLIER", "ACKNOWLEDGED", "IN_PROGRESS", "RESOLVED", "COMPLETED"
    ]  # fmt: skip
    assert [k["sequenceNumber"] for k in problem_kcis] == [1, 2, 3, 4, 5]
    accepted = [r for r in records if r["event"] == "accepted"]
    assert len(accepted) == 1
    assert accepted[0]["resolutionId"] == problem_kcis[3]["serviceProblemResolution"]["id"]
    result = next(r for r in records if r["event"] == "problem_result")
    assert result["status"] == "COMPLETED"
    assert result["ok"] is True
    assert records[-1]["event"] == "done"
    assert records[-1]["ok"] is True
