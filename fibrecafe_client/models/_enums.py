"""The gateway's enumerations, as open sets.

Every enum here is documented by Fibre Cafe, but the docs are incomplete and the gateway adds
values over time. Fields typed with the ``Open*`` aliases accept any string: a known value becomes
the enum member, an unknown one an :class:`UnknownValue` (a ``str``), never rejected.

Why a class of its own and not plain ``str``: ``ServiceTestStatus | str`` collapses to ``str``
for a type checker (every member *is* a str), so it could neither narrow a status nor check a
``match`` for exhaustiveness. ``ServiceTestStatus | UnknownValue`` is two disjoint types: a
``case UnknownValue():`` arm covers what the SDK does not know yet, and ``assert_never`` works.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeAlias

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = [
    "EntityType",
    "ErrorCode",
    "InformationType",
    "OpenEntityType",
    "OpenErrorCode",
    "OpenInformationType",
    "OpenOutcomeResult",
    "OpenProblemType",
    "OpenServiceTestStatus",
    "OpenUpdateType",
    "OutcomeResult",
    "ProblemType",
    "ServiceTestStatus",
    "UnknownValue",
    "UpdateType",
]


class UnknownValue(str):
    """An enum value the SDK does not list (yet): the gateway's string, kept as it arrived.

    It is a ``str`` (``UnknownValue("NEW") == "NEW"``, it serialises as the plain string) whose
    type tells it apart from the members of the enum it stands beside, e.g.
    ``status: ServiceTestStatus | UnknownValue``::

        match test.status:
            case ServiceTestStatus.COMPLETED: ...
            case UnknownValue(): ...  # a status published after this SDK version
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"UnknownValue({str.__repr__(self)})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # Only reached for a string no enum member matched (the aliases below are left_to_right).
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


class ServiceTestStatus(StrEnum):
    """Lifecycle of a service test (TMF653 adapted by the gateway)."""

    RECEIVED_BY_GATEWAY = "RECEIVED_BY_GATEWAY"
    SENT_TO_SUPPLIER = "SENT_TO_SUPPLIER"
    FAILED_TO_SEND = "FAILED_TO_SEND"
    REJECTED = "REJECTED"
    IN_PROGRESS = "IN_PROGRESS"
    FAILED = "FAILED"
    COMPLETED = "COMPLETED"

    @property
    def is_terminal(self) -> bool:
        """True for states after which the test never changes again.

        ``FAILED`` is not described by the gateway docs; we treat it as terminal, since no
        documented transition leaves it.
        """
        return self in _TERMINAL_SERVICE_TEST_STATUSES


_TERMINAL_SERVICE_TEST_STATUSES = frozenset(
    {
        ServiceTestStatus.FAILED_TO_SEND,
        ServiceTestStatus.REJECTED,
        ServiceTestStatus.FAILED,
        ServiceTestStatus.COMPLETED,
    }
)


class ProblemType(StrEnum):
    """The kind of fault the tenant reports when asking for a service test."""

    CPE = "CPE"
    CUSTOMER = "CUSTOMER"
    OUTAGE = "OUTAGE"
    PERFORMANCE = "PERFORMANCE"
    STABILITY = "STABILITY"
    SYNCHRONISATION = "SYNCHRONISATION"


class OutcomeResult(StrEnum):
    """``result.testOutcome.testResult``: the traffic-light verdict of a completed test.

    GREEN, AMBER and RED are in the outcome table; FAILED and UNAVAILABLE appear in the CVT
    scenarios. The set is open.
    """

    GREEN = "GREEN"
    AMBER = "AMBER"
    RED = "RED"
    FAILED = "FAILED"
    UNAVAILABLE = "UNAVAILABLE"


class ErrorCode(StrEnum):
    """The ``code`` of the gateway's error body (and of ERROR KCIs)."""

    GATEWAY_FAULT = "GATEWAY_FAULT"
    INVALID_REQUEST = "INVALID_REQUEST"
    MALFORMED_REQUEST = "MALFORMED_REQUEST"
    NOT_AUTHORISED = "NOT_AUTHORISED"
    NOT_FOUND = "NOT_FOUND"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    SUPPLIER_FAULT = "SUPPLIER_FAULT"
    SUPPLIER_TIMED_OUT = "SUPPLIER_TIMED_OUT"
    TENANT_FAULT = "TENANT_FAULT"


class UpdateType(StrEnum):
    """``updateType`` of a KCI envelope: informational, action required, or an error."""

    INFORMATIONAL = "INFORMATIONAL"
    ACTION_REQUIRED = "ACTION_REQUIRED"
    ERROR = "ERROR"


class InformationType(StrEnum):
    """``information.type`` / ``action.type`` of a KCI: why the update was sent."""

    # informational
    CREATED = "CREATED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    COMMITTED = "COMMITTED"
    DELAY = "DELAY"
    RESUMED = "RESUMED"
    REAPPOINTED = "REAPPOINTED"
    ADDITIONAL = "ADDITIONAL"
    WARNING = "WARNING"
    UPDATE = "UPDATE"
    AMENDED = "AMENDED"
    CANCELLED = "CANCELLED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"
    # action required
    INFORMATION_REQUIRED = "INFORMATION_REQUIRED"
    REAPPOINT = "REAPPOINT"
    RESUBMIT = "RESUBMIT"
    CONFIRM = "CONFIRM"
    # error
    FAILED_TO_SEND = "FAILED_TO_SEND"


class EntityType(StrEnum):
    """``entityType`` of a KCI: which kind of object ``entity`` holds.

    The Ethernet provide variant exists in the schema but its literal is unpublished, so it is
    not listed; it parses as an unknown entity type.
    """

    PROVIDE_ORDER = "PROVIDE_ORDER"
    MODIFY_ORDER = "MODIFY_ORDER"
    CEASE_ORDER = "CEASE_ORDER"
    UNSOLICITED_CEASE_ORDER = "UNSOLICITED_CEASE_ORDER"
    SERVICE_TEST = "SERVICE_TEST"
    SERVICE_PROBLEM = "SERVICE_PROBLEM"


# left_to_right: a known value becomes the enum member, only the rest an UnknownValue (shared
# by the open enums of every model module).
KNOWN_FIRST: Any = Field(union_mode="left_to_right")

OpenServiceTestStatus: TypeAlias = Annotated[ServiceTestStatus | UnknownValue, KNOWN_FIRST]
OpenProblemType: TypeAlias = Annotated[ProblemType | UnknownValue, KNOWN_FIRST]
OpenOutcomeResult: TypeAlias = Annotated[OutcomeResult | UnknownValue, KNOWN_FIRST]
OpenErrorCode: TypeAlias = Annotated[ErrorCode | UnknownValue, KNOWN_FIRST]
OpenUpdateType: TypeAlias = Annotated[UpdateType | UnknownValue, KNOWN_FIRST]
OpenInformationType: TypeAlias = Annotated[InformationType | UnknownValue, KNOWN_FIRST]
OpenEntityType: TypeAlias = Annotated[EntityType | UnknownValue, KNOWN_FIRST]

# Request bodies hold what the caller wrote, so they accept any ``str`` for checkers too (an
# unknown value stays the caller's plain string); only what the gateway sends is UnknownValue.
ProblemTypeArgument: TypeAlias = Annotated[ProblemType | str, KNOWN_FIRST]
