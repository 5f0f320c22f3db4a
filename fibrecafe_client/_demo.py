"""``fibrecafe demo`` and ``fibrecafe sandbox``: the whole journey on loopback, no credentials.

The demo starts the sandbox gateway and a real :class:`~fibrecafe_client.KciReceiver` on
127.0.0.1, creates one service test per scenario through the real client, prints every KCI as
the receiver accepts it, and checks that each test ends in the status its scenario promises,
both by KCI and by ``GET``. From the RED test it then raises a service problem, follows its
KCIs, accepts the resolution from the CONFIRM KCI's handler and checks the problem COMPLETED.
It exits 0 only when every step does.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from ._client import FibreCafe
from ._loopback import serve_asgi
from .cli import describe_kci
from .errors import FibreCafeError
from .kci import BasicAuthVerifier, Kci, KciReceiver
from .models import ServiceTest, ServiceTestCharacteristics
from .sandbox import Sandbox, Scenario, Webhook, run_forever
from .sandbox._problems import ProblemScenario

if TYPE_CHECKING:
    from .kci import ServiceProblemKci, ServiceTestKci

__all__ = ["run_demo", "run_sandbox_forever"]

_WAIT_PER_TEST = 60.0
_DEMO_SERVICE_ID = "BBEU00537760"


@dataclass(slots=True)
class _Outcome:
    scenario: Scenario
    test: ServiceTest
    final_kci: ServiceTestKci | None = None
    final_get: ServiceTest | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Printer:
    """Serialises output from the receiver's thread and the main thread."""

    def __init__(
        self, out: TextIO, as_json: bool, labels: dict[int, Scenario | ProblemScenario]
    ) -> None:
        self._out = out
        self._json = as_json
        self._labels = labels
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._kcis_closed = False

    def close_kcis(self) -> None:
        """Print no more KCIs: the report that follows is final (a late redelivery or warning
        KCI from the sandbox's lifecycle would otherwise land after it)."""
        with self._lock:
            self._kcis_closed = True

    def line(self, text: str, **record: Any) -> None:
        with self._lock:
            if self._kcis_closed and record.get("event") == "kci":
                return
            if self._json:
                self._out.write(json.dumps(record, default=str) + "\n")
            else:
                self._out.write(text + "\n")
            self._out.flush()

    def kci(self, kci: Kci) -> None:
        entity_id = kci.entity_id
        label = self._labels.get(entity_id) if isinstance(entity_id, int) else None
        elapsed = time.monotonic() - self._started
        self.line(
            f"  {elapsed:5.2f}s  {describe_kci(kci)}  [{label.name if label else '?'}]",
            event="kci",
            scenario=label.value if label else None,
            kci=kci.to_dict(),
            conversationId=kci.conversation_id,
        )


def _characteristics() -> ServiceTestCharacteristics:
    return ServiceTestCharacteristics(
        service_has_worked=True,
        service_last_worked=datetime.now(UTC) - timedelta(hours=3),
    )


def run_demo(
    out: TextIO,
    *,
    scenarios: Sequence[str] | None = None,
    kci_delay: float = 0.2,
    as_json: bool = False,
) -> int:
    """Run the demo; returns the exit code (0 when every scenario ended as promised)."""
    chosen = [Scenario(name) for name in scenarios] if scenarios else list(Scenario)
    labels: dict[int, Scenario | ProblemScenario] = {}
    printer = _Printer(out, as_json, labels)
    user, password = "fibre-gateway", secrets.token_urlsafe(16)
    receiver = KciReceiver(verifier=BasicAuthVerifier(user, password))
    # Subscribed before any test exists, so no KCI can be missed.
    receiver.subscribe(printer.kci)

    with serve_asgi(receiver.asgi_app()) as kci_server:
        webhook = Webhook(f"{kci_server.url}/kcis", username=user, password=password)
        with (
            Sandbox.start(webhooks=[webhook], kci_delay=kci_delay) as sandbox,
            FibreCafe(
                sandbox.client_id,
                sandbox.client_secret,
                base_url=sandbox.base_url,
                token_url=sandbox.token_url,
            ) as client,
        ):
            printer.line(
                f"Fibre Cafe demo: sandbox gateway at {sandbox.base_url}, "
                f"KCI receiver at {webhook.url}",
                event="start",
                baseUrl=sandbox.base_url,
                webhook=webhook.url,
            )
            info = client.check_credentials()
            printer.line(
                f"token OK: {info.token_type}, scope {info.scope or '(default)'}, "
                f"expires in {info.expires_in:.0f}s",
                event="token",
                scope=info.scope,
                expiresIn=info.expires_in,
            )
            outcomes = [
                _create(client, scenario, kci_delay, labels, printer) for scenario in chosen
            ]
            for outcome in outcomes:
                _await_final(client, receiver, outcome)
            red = next((o for o in outcomes if o.scenario is Scenario.RED and o.ok), None)
            journey_ok = True
            if red is not None and red.final_get is not None:
                journey_ok = _problem_journey(client, receiver, red.final_get, labels, printer)
            printer.close_kcis()
            _summarise(printer, outcomes, sandbox, journey_ok=journey_ok)
    return 0 if all(o.ok for o in outcomes) and journey_ok else 1


def _problem_journey(
    client: FibreCafe,
    receiver: KciReceiver,
    test: ServiceTest,
    labels: dict[int, Scenario | ProblemScenario],
    printer: _Printer,
) -> bool:
    """From the RED test: raise a problem, accept its resolution on the CONFIRM KCI, check it."""
    accepted = threading.Event()
    completed = threading.Event()
    failures: list[str] = []

    @receiver.on("SERVICE_PROBLEM", action="CONFIRM")
    def confirm(kci: ServiceProblemKci) -> None:
        if kci.entity_id not in labels:
            return
        try:
            resolution = client.service_problems.accept_resolution(kci, "Service restored")
        except FibreCafeError as exc:
            failures.append(f"accepting the resolution failed: {exc}")
        else:
            printer.line(
                f"accepted resolution {resolution.id} of service problem {kci.entity_id}",
                event="accepted",
                id=kci.entity_id,
                resolutionId=resolution.id,
            )
        accepted.set()

    # A listener, not a handler: listeners run after the KCI is handled, in subscription
    # order, so the printer (subscribed first) has printed the final KCI before the journey
    # goes on to its result (a handler set this too early and the last KCI raced the report).
    def finished(kci: Kci) -> None:
        ended = kci.entity_status in ("COMPLETED", "CANCELLED", "REJECTED")
        if kci.entity_type == "SERVICE_PROBLEM" and ended and kci.entity_id in labels:
            completed.set()

    receiver.subscribe(finished)

    request = test.problem_request(
        problem_text="Service is completely down since this morning.",
        characteristics={"SERVICE_HAS_WORKED": "false"},
        primary_contact={"name": "Jane Bloggs", "phoneNumber": "01234 567890"},
        external_identifier="DEMO-0001",
    )
    problem = client.service_problems.create_from(request)
    labels[problem.id] = ProblemScenario.RESOLVED
    printer.line(
        f"raised service problem {problem.id} from service test {test.id}: {problem.status}",
        event="problem",
        id=problem.id,
        serviceTestId=test.id,
        status=str(problem.status),
        conversationId=problem.conversation_id,
    )
    if not (accepted.wait(_WAIT_PER_TEST) and completed.wait(_WAIT_PER_TEST)):
        failures.append("the service problem did not reach COMPLETED in time")
    final = client.service_problems.get(problem.id)
    if final.status != "COMPLETED":
        failures.append(f"service problem {problem.id} ended {final.status}, not COMPLETED")
    verdict = "ok" if not failures else "FAILED: " + "; ".join(failures)
    printer.line(
        f"service problem {problem.id}: {final.status} ({len(final.updates)} KCIs)  {verdict}",
        event="problem_result",
        id=problem.id,
        status=str(final.status),
        ok=not failures,
        problem="; ".join(failures) or None,
    )
    return not failures


def _create(
    client: FibreCafe,
    scenario: Scenario,
    kci_delay: float,
    labels: dict[int, Scenario | ProblemScenario],
    printer: _Printer,
) -> _Outcome:
    test = client.service_tests.create(
        service_id=_DEMO_SERVICE_ID,
        problem_type="OUTAGE",
        service_specification="FTTP",
        supplier="FIBRECO",
        characteristics=_characteristics(),
        extra_headers={"X-Scenario": scenario.value, "X-Kci-Delay": f"{kci_delay:g}"},
    )
    labels[test.id] = scenario
    printer.line(
        f"created service test {test.id} [{scenario.name}]: {test.status} "
        f"(conversation {test.conversation_id})",
        event="created",
        scenario=scenario.value,
        id=test.id,
        status=str(test.status),
        conversationId=test.conversation_id,
    )
    return _Outcome(scenario, test)


def _await_final(client: FibreCafe, receiver: KciReceiver, outcome: _Outcome) -> None:
    expected = outcome.scenario.final_status
    try:
        outcome.final_kci = receiver.wait_for_sync(outcome.test.id, timeout=_WAIT_PER_TEST)
        outcome.final_get = client.service_tests.get(outcome.test.id)
    except FibreCafeError as exc:
        outcome.problem = str(exc)
        return
    seen = {outcome.final_kci.entity_status, outcome.final_get.status}
    if seen != {expected}:
        outcome.problem = f"expected {expected}, saw {sorted(map(str, seen))}"


def _summarise(
    printer: _Printer, outcomes: Sequence[_Outcome], sandbox: Sandbox, *, journey_ok: bool
) -> None:
    printer.line("results:", event="results")
    for outcome in outcomes:
        final = outcome.final_get
        result = final.test_result if final is not None else None
        code = (
            final.result.test_outcome.code
            if final is not None and final.result and final.result.test_outcome
            else None
        )
        raisable = final.may_raise_problem() if final is not None else False
        verdict = "ok" if outcome.ok else f"FAILED: {outcome.problem}"
        printer.line(
            f"  {outcome.scenario.value:<28} test {outcome.test.id:<3} "
            f"{final.status if final else '-'!s:<15} {result or '-'!s:<12} {code or '-':<24} "
            f"raise problem: {'yes' if raisable else 'no ':<3}  {verdict}",
            event="result",
            scenario=outcome.scenario.value,
            id=outcome.test.id,
            status=str(final.status) if final else None,
            testResult=str(result) if result else None,
            code=code,
            mayRaiseProblem=raisable,
            ok=outcome.ok,
            problem=outcome.problem,
        )
    stats = sandbox.stats
    printer.line(
        f"{sum(o.ok for o in outcomes)}/{len(outcomes)} scenarios ended as expected",
        event="done",
        ok=all(o.ok for o in outcomes) and journey_ok,
        stats=str(stats),
    )


def run_sandbox_forever(args: argparse.Namespace, out: TextIO) -> int:
    """``fibrecafe sandbox``: serve until Ctrl-C, printing how to point the SDK at it."""
    username, password = args.webhook_basic or (None, None)  # already checked by the parser
    webhooks = [
        Webhook(url, username=username, password=password, bearer_token=args.webhook_bearer)
        for url in args.webhook
    ]

    def ready(sandbox: Sandbox) -> None:
        out.write(sandbox.banner() + "\nCtrl-C to stop.\n")
        out.flush()

    run_forever(
        args.host,
        args.port,
        on_ready=ready,
        webhooks=webhooks,
        client_id=args.client_id,
        client_secret=args.client_secret,
        kci_delay=args.kci_delay,
        token_lifetime=args.token_lifetime,
    )
    return 0
