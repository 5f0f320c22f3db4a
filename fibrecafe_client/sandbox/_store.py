"""The sandbox's service tests: creation, the current state, and each lifecycle transition.

Every state the store hands out is built with the SDK's own :class:`ServiceTest` model, so the
sandbox can only ever produce what the SDK accepts. Transitions return the :class:`KciEvent`
that announces them; the KCI envelope is rendered at delivery time.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fibrecafe_client.models import ServiceTest, ServiceTestStatus, UpdateType, render_wire_datetime

from ._scenarios import Scenario, Step, build_result, plan_for
from ._validation import CreateRequest

__all__ = ["KciEvent", "ServiceTestStore"]


@dataclass(frozen=True, slots=True)
class KciEvent:
    """One KCI to deliver: everything but ``deliveredOn``, which is stamped per attempt."""

    id: str
    test_id: int
    conversation_id: str
    supplier: str
    sequence_number: int
    update_type: UpdateType
    entity: dict[str, Any]
    issued_on: datetime | None = None
    received_on: datetime | None = None
    information: dict[str, str] | None = None
    error: dict[str, Any] | None = None

    def envelope(self, delivered_on: datetime) -> dict[str, Any]:
        """The KCI body as the gateway sends it (fields in the published examples' order)."""
        body: dict[str, Any] = {
            "id": self.id,
            "supplier": self.supplier,
            "sequenceNumber": self.sequence_number,
        }
        if self.issued_on is not None:
            body["issuedOn"] = render_wire_datetime(self.issued_on)
        if self.received_on is not None:
            body["receivedOn"] = render_wire_datetime(self.received_on)
        body["deliveredOn"] = render_wire_datetime(delivered_on)
        body["updateType"] = self.update_type.value
        if self.information is not None:
            body["information"] = dict(self.information)
        body["entityType"] = "SERVICE_TEST"
        body["entity"] = self.entity
        if self.error is not None:
            body["error"] = dict(self.error)
        return body


@dataclass(slots=True)
class _Record:
    test: ServiceTest
    conversation_id: str
    scenario: Scenario
    delay: float
    problem_code: str | None
    sequence: int = 0


class ServiceTestStore:
    """In-memory service tests, safe to read from any thread."""

    def __init__(self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[int, _Record] = {}
        # Ids keep growing across resets, so a receiver never sees one id for two tests.
        self._ids = itertools.count(1)

    def create(
        self,
        request: CreateRequest,
        *,
        scenario: Scenario,
        delay: float,
        problem_code: str | None,
        conversation_id: str,
    ) -> tuple[int, dict[str, Any]]:
        """Store a new test in RECEIVED_BY_GATEWAY; returns its id and its 201 body."""
        now = self._clock()
        with self._lock:
            test_id = next(self._ids)
            test = ServiceTest.model_validate(
                {
                    "id": test_id,
                    "status": ServiceTestStatus.RECEIVED_BY_GATEWAY.value,
                    "created": now,
                    "updated": now,
                    "serviceId": request.service_id,
                    "problemType": request.problem_type,
                    "serviceSpecification": request.service_specification,
                    "supplier": request.supplier,
                    "characteristics": request.characteristics,
                }
            )
            self._records[test_id] = _Record(test, conversation_id, scenario, delay, problem_code)
            return test_id, test.to_dict()

    def get(self, test_id: int) -> dict[str, Any] | None:
        """The test's current wire form (None if there is no such test)."""
        with self._lock:
            record = self._records.get(test_id)
            return None if record is None else record.test.to_dict()

    def schedule(self, test_id: int) -> tuple[float, tuple[Step, ...]] | None:
        """The delay between steps and the steps still to run for a test."""
        with self._lock:
            record = self._records.get(test_id)
            if record is None:
                return None
            return record.delay, plan_for(record.scenario)

    def advance(self, test_id: int, step: Step) -> KciEvent | None:
        """Apply ``step`` to the test; returns the KCI announcing it (None if the test is gone)."""
        now = self._clock()
        with self._lock:
            record = self._records.get(test_id)
            if record is None:
                return None
            changes: dict[str, Any] = {"status": step.status.value, "updated": now}
            if step.assigns_supplier_reference:
                changes["supplierReference"] = f"SBX{test_id:08d}-{now:%Y%m%d%H%M%S}"
            if step.outcome is not None:
                changes["result"] = build_result(
                    step.outcome, completed_at=now, problem_code=record.problem_code
                )
            wire = record.test.to_dict() | changes
            record.test = ServiceTest.model_validate(wire)
            record.sequence += 1
            error = None
            if step.error is not None:
                code, message = step.error
                error = {"uuid": str(uuid.uuid4()), "code": code.value, "messages": [message]}
            return KciEvent(
                id=str(uuid.uuid4()),
                test_id=test_id,
                conversation_id=record.conversation_id,
                supplier=record.test.supplier or "",
                sequence_number=record.sequence,
                update_type=step.update_type,
                entity=record.test.to_dict(),
                issued_on=now if step.from_supplier else None,
                received_on=now if step.from_supplier else None,
                information=None if step.information is None else dict(step.information),
                error=error,
            )

    def ids(self) -> list[int]:
        """Ids of the stored tests, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every test (ids are not reused)."""
        with self._lock:
            self._records.clear()
