"""The CVT-style scenarios: which lifecycle a service test follows and what result it ends with.

Pure data and functions. A scenario is chosen per request with the ``X-Scenario`` header, as on
Fibre Cafe's CVT stubs; ``X-Problem-Code`` sets the outcome code of the non-GREEN results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from fibrecafe_client.models import (
    PROBLEM_WINDOW,
    ErrorCode,
    InformationType,
    OutcomeResult,
    ServiceTestStatus,
    UpdateType,
    render_wire_datetime,
)

__all__ = [
    "DEFAULT_PROBLEM_CODE",
    "DEFAULT_SCENARIO",
    "PROBLEM_CODE_PATTERN",
    "Outcome",
    "Scenario",
    "Step",
    "build_result",
    "plan_for",
]


class Scenario(StrEnum):
    """Values of the ``X-Scenario`` header the sandbox understands.

    The six ``SERVICE_TEST_*`` result scenarios are CVT's; ``SERVICE_TEST_FAILED_TO_SEND`` is the
    sandbox's own, for the gateway failing to reach the supplier (an ERROR KCI).
    """

    GREEN = "SERVICE_TEST_GREEN"
    AMBER = "SERVICE_TEST_AMBER"
    RED = "SERVICE_TEST_RED"
    FAILED = "SERVICE_TEST_FAILED"
    REJECTED = "SERVICE_TEST_REJECTED"
    UNAVAILABLE = "SERVICE_TEST_UNAVAILABLE"
    FAILED_TO_SEND = "SERVICE_TEST_FAILED_TO_SEND"

    @property
    def final_status(self) -> ServiceTestStatus:
        """The terminal status a test in this scenario reaches."""
        return plan_for(self)[-1].status


#: The scenario of a test created without ``X-Scenario`` (as on CVT).
DEFAULT_SCENARIO: Final = Scenario.GREEN
#: CVT's documented default for ``X-Problem-Code``.
DEFAULT_PROBLEM_CODE: Final = "UNKNOWN_FAULT"
#: What an ``X-Problem-Code`` value must look like (an upper-case code word).
PROBLEM_CODE_PATTERN: Final = re.compile(r"[A-Z0-9_]{1,50}")


@dataclass(frozen=True, slots=True)
class Measure:
    """One ``testMeasures`` entry the supplier reports."""

    name: str
    value: str
    unit: str
    violation: bool
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a COMPLETED test reports in ``result.testOutcome`` and ``result.testMeasures``."""

    test_result: OutcomeResult
    code: str
    description: str
    supplier_codes: tuple[str, ...]
    supplier_text: str
    measures: tuple[Measure, ...] = ()
    #: Whether ``X-Problem-Code`` replaces ``code`` (not for GREEN: nothing is wrong).
    code_from_header: bool = True


@dataclass(frozen=True, slots=True)
class Step:
    """One lifecycle transition, and the KCI that announces it."""

    status: ServiceTestStatus
    update_type: UpdateType
    #: ``information`` of an INFORMATIONAL KCI (None for ERROR KCIs).
    information: dict[str, str] | None = None
    #: ``(code, message)`` of an ERROR KCI's ``error``.
    error: tuple[ErrorCode, str] | None = None
    #: Supplier KCIs carry ``issuedOn``/``receivedOn``; the gateway's own ones do not.
    from_supplier: bool = True
    #: The supplier's reference appears once the supplier has accepted the test.
    assigns_supplier_reference: bool = False
    outcome: Outcome | None = None


_LIGHT = "ONT_LIGHT_LEVEL"

_OUTCOMES: Final[dict[Scenario, Outcome]] = {
    Scenario.GREEN: Outcome(
        OutcomeResult.GREEN,
        "NO_FAULT_FOUND",
        "The service test found no fault. A service problem cannot be raised on a GREEN result.",
        (),
        "Test passed: optical levels and session state within limits.",
        (Measure(_LIGHT, "-14.5", "decibel", violation=False),),
        code_from_header=False,
    ),
    Scenario.AMBER: Outcome(
        OutcomeResult.AMBER,
        "NO_FAULT_FOUND",
        "No fault was confirmed, but a reading is outside its normal range. A service problem "
        "may be raised within two hours if end-user checks do not clear the issue.",
        ("D1234",),
        "Light level marginal at the ONT.",
        (Measure(_LIGHT, "-25.8", "decibel", violation=True, severity="WARNING"),),
    ),
    Scenario.RED: Outcome(
        OutcomeResult.RED,
        "NETWORK_NODE_ISSUE",
        "The service test found a likely fault on a network node. A service problem may be "
        "raised within two hours, once end-user checks are done.",
        ("ND510",),
        "Fault suspected on the serving network node; passed for further diagnostics.",
        (Measure(_LIGHT, "-31.2", "decibel", violation=True, severity="CRITICAL"),),
    ),
    Scenario.FAILED: Outcome(
        OutcomeResult.FAILED,
        DEFAULT_PROBLEM_CODE,
        "The supplier's test did not complete. Run a new service test later; a service "
        "problem cannot be raised on a FAILED result.",
        ("T9000",),
        "Test aborted before completion.",
    ),
    Scenario.UNAVAILABLE: Outcome(
        OutcomeResult.UNAVAILABLE,
        DEFAULT_PROBLEM_CODE,
        "The supplier's test facility is unavailable, so no test was run. A service problem "
        "may be raised within two hours.",
        ("T9001",),
        "Test facility unavailable.",
    ),
}

_SENT = Step(
    ServiceTestStatus.SENT_TO_SUPPLIER,
    UpdateType.INFORMATIONAL,
    information={"type": InformationType.UPDATE.value},
    from_supplier=False,
)
_ACCEPTED = Step(
    ServiceTestStatus.IN_PROGRESS,
    UpdateType.INFORMATIONAL,
    information={"type": InformationType.COMMITTED.value},
    assigns_supplier_reference=True,
)
_REJECTED = Step(
    ServiceTestStatus.REJECTED,
    UpdateType.INFORMATIONAL,
    information={
        "type": InformationType.TERMINATED.value,
        "code": ErrorCode.INVALID_REQUEST.value,
        "text": "The supplier could not validate the serviceId. Check it and test again.",
        "supplierCode": "SL09",
    },
)
_FAILED_TO_SEND = Step(
    ServiceTestStatus.FAILED_TO_SEND,
    UpdateType.ERROR,
    error=(
        ErrorCode.SUPPLIER_FAULT,
        "The supplier API returned the following message: 503 Service unavailable",
    ),
    from_supplier=False,
)


def _completed(outcome: Outcome) -> Step:
    return Step(
        ServiceTestStatus.COMPLETED,
        UpdateType.INFORMATIONAL,
        information={"type": InformationType.COMPLETED.value},
        outcome=outcome,
    )


_PLANS: Final[dict[Scenario, tuple[Step, ...]]] = {
    **{s: (_SENT, _ACCEPTED, _completed(o)) for s, o in _OUTCOMES.items()},
    Scenario.REJECTED: (_SENT, _REJECTED),
    Scenario.FAILED_TO_SEND: (_FAILED_TO_SEND,),
}


def plan_for(scenario: Scenario) -> tuple[Step, ...]:
    """The steps a test in ``scenario`` goes through after RECEIVED_BY_GATEWAY, in order."""
    return _PLANS[scenario]


def build_result(
    outcome: Outcome, *, completed_at: datetime, problem_code: str | None
) -> dict[str, Any]:
    """``result`` of a COMPLETED test, as wire data.

    ``testValidity`` is two hours after completion: the window in which a service problem may be
    raised from the test.
    """
    code = problem_code if (problem_code and outcome.code_from_header) else outcome.code
    measures = [
        {
            "metricName": m.name,
            "captureDateTime": render_wire_datetime(completed_at),
            "metricValue": m.value,
            "unitOfMeasure": m.unit,
            "ruleViolation": m.violation,
            **({"ruleSeverity": m.severity} if m.severity else {}),
        }
        for m in outcome.measures
    ]
    return {
        "testValidity": render_wire_datetime(completed_at + PROBLEM_WINDOW),
        **({"testMeasures": measures} if measures else {}),
        "testOutcome": {
            "testResult": outcome.test_result.value,
            "code": code,
            "description": outcome.description,
            "supplierCodes": list(outcome.supplier_codes),
            "supplierText": outcome.supplier_text,
        },
    }
