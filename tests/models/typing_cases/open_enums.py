"""Type-checked by tests/models/test_typing.py with mypy and pyright: errors only on ``# E``."""

from typing import assert_never, assert_type

from fibrecafe_client import (
    InformationType,
    OutcomeResult,
    ProblemType,
    ServiceProblemKci,
    ServiceProblemStatus,
    ServiceTest,
    ServiceTestKci,
    ServiceTestStatus,
    UnknownValue,
)


def reveal(test: ServiceTest, kci: ServiceTestKci, problem: ServiceProblemKci) -> None:
    assert_type(test.status, ServiceTestStatus | UnknownValue)
    assert_type(test.problem_type, ProblemType | UnknownValue)
    assert_type(test.test_result, OutcomeResult | UnknownValue | None)
    assert_type(kci.entity_status, ServiceTestStatus | UnknownValue)
    assert_type(problem.entity_status, ServiceProblemStatus | UnknownValue)
    assert_type(problem.action_type, InformationType | UnknownValue | None)


def exhaustive(test: ServiceTest) -> str:
    status = test.status
    match status:
        case (
            ServiceTestStatus.RECEIVED_BY_GATEWAY
            | ServiceTestStatus.SENT_TO_SUPPLIER
            | ServiceTestStatus.IN_PROGRESS
        ):
            return "running"
        case ServiceTestStatus.COMPLETED:
            return "completed"
        case ServiceTestStatus.FAILED | ServiceTestStatus.FAILED_TO_SEND:
            return "failed"
        case ServiceTestStatus.REJECTED:
            return "rejected"
        case UnknownValue():
            return f"published after this SDK: {status}"
        case _:
            assert_never(status)


def narrowed(test: ServiceTest) -> bool:
    if isinstance(test.status, UnknownValue):
        assert_type(test.status, UnknownValue)
        return False
    assert_type(test.status, ServiceTestStatus)
    return test.status.is_terminal


def forgets_the_unknown(test: ServiceTest) -> str:
    status = test.status
    match status:
        case ServiceTestStatus.COMPLETED:
            return "completed"
        case ServiceTestStatus():
            return "another known status"
        case _:
            assert_never(status)  # E: a status published later is not handled
