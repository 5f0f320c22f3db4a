"""The KCI envelope and its typed events: ``ServiceTestKci``, ``ServiceProblemKci``, ``GenericKci``.

A KCI ("Keep Customer Informed") is the update the gateway POSTs to the tenant. Every KCI has the
same envelope; ``entityType`` says what ``entity`` holds. Service tests and service problems are
modelled in depth with the same :class:`~fibrecafe_client.ServiceTest` and
:class:`~fibrecafe_client.ServiceProblem` the client returns; every other entity type (the order
kinds, unsolicited ceases and any type published later) is a :class:`GenericKci` whose entity
stays a plain mapping, so nothing inside it can make the envelope unusable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

from pydantic import Field

from fibrecafe_client.models import (
    FibreCafeModel,
    GatewayError,
    InformationType,
    ServiceProblem,
    ServiceProblemResolution,
    ServiceProblemStatus,
    ServiceTest,
    ServiceTestStatus,
    UnknownValue,
    UpdateType,
)
from fibrecafe_client.models._enums import OpenEntityType, OpenUpdateType
from fibrecafe_client.models._updates import KciAction, KciInformation, SupplierNote

__all__ = [
    "GENERIC_TERMINAL_STATUSES",
    "GenericKci",
    "Kci",
    "KciAction",
    "KciDelivery",
    "KciInformation",
    "ServiceProblemKci",
    "ServiceTestKci",
    "SupplierNote",
]

#: Entity statuses after which an order no longer changes. The gateway does
#: not document terminal states for these entities; these are the end states its status lists
#: share (an inference, used only by :attr:`GenericKci.is_terminal`).
GENERIC_TERMINAL_STATUSES: Final = frozenset(
    {"COMPLETED", "CANCELLED", "REJECTED", "FAILED_TO_SEND"}
)


@dataclass(frozen=True, slots=True)
class KciDelivery:
    """How a KCI reached a :class:`~fibrecafe_client.KciReceiver`.

    ``request_id``/``conversation_id`` are the gateway's ``X-Request-ID``/``X-Conversation-ID``
    (the conversation id matches the one sent when the order or test was created). ``stale`` is
    True when a KCI with a higher ``sequenceNumber`` for the same entity was already handled.
    """

    request_id: str | None = None
    conversation_id: str | None = None
    stale: bool = False


class _KciEnvelope(FibreCafeModel):
    """Fields every KCI shares, whatever its entity type."""

    id: str = Field(min_length=1)
    supplier: str
    sequence_number: int
    issued_on: datetime | None = None
    received_on: datetime | None = None
    delivered_on: datetime
    delivery_status: str | None = None
    update_type: OpenUpdateType
    information: KciInformation | None = None
    action: KciAction | None = None
    error: GatewayError | None = None
    supplier_notes: list[SupplierNote] = Field(default_factory=list[SupplierNote])
    entity_type: OpenEntityType

    # Metadata lives in ``vars(self)`` under underscore names, not in pydantic private
    # attributes: those cost a Python-level initialiser on every parsed object (a third of the
    # time of parsing a KCI), these nothing until they are set. pydantic leaves such names out
    # of validation, dumps, reprs and equality; copies and pickles keep them.

    @property
    def is_error(self) -> bool:
        """True for ``updateType: ERROR`` (the request failed; details in :attr:`error`)."""
        return self.update_type == UpdateType.ERROR

    @property
    def is_action_required(self) -> bool:
        """True for ``updateType: ACTION_REQUIRED`` (the tenant must act; see :attr:`action`)."""
        return self.update_type == UpdateType.ACTION_REQUIRED

    @property
    def delivery(self) -> KciDelivery | None:
        """Request metadata set by the receiver (None when parsed with :func:`parse_kci`)."""
        value: KciDelivery | None = vars(self).get("_delivery")
        return value

    @property
    def is_stale(self) -> bool:
        """True when the receiver already handled a newer KCI for the same entity."""
        delivery = self.delivery
        return delivery is not None and delivery.stale

    @property
    def request_id(self) -> str | None:
        """``X-Request-ID`` of the delivery (None outside a receiver)."""
        delivery = self.delivery
        return None if delivery is None else delivery.request_id

    @property
    def conversation_id(self) -> str | None:
        """``X-Conversation-ID`` of the delivery (None outside a receiver)."""
        delivery = self.delivery
        return None if delivery is None else delivery.conversation_id

    def _set_delivery(self, delivery: KciDelivery) -> None:
        vars(self)["_delivery"] = delivery


class ServiceTestKci(_KciEnvelope):
    """A KCI about a service test (``entityType: SERVICE_TEST``).

    ``entity`` is the same :class:`~fibrecafe_client.ServiceTest` that
    ``client.service_tests.get()`` returns, so code written for one works for the other.
    """

    entity: ServiceTest

    @property
    def entity_id(self) -> int:
        """The service test id."""
        return self.entity.id

    @property
    def entity_status(self) -> ServiceTestStatus | UnknownValue:
        """The test's status (an enum member when known, else an :class:`UnknownValue`)."""
        return self.entity.status

    @property
    def is_terminal(self) -> bool:
        """True when the test can no longer change (COMPLETED, REJECTED, FAILED_TO_SEND...)."""
        return self.entity.is_terminal


class ServiceProblemKci(_KciEnvelope):
    """A KCI about a service problem (``entityType: SERVICE_PROBLEM``).

    ``entity`` is the same :class:`~fibrecafe_client.ServiceProblem` that
    ``client.service_problems.get()`` returns. Action KCIs (``ACTION_REQUIRED``) say what the
    tenant must do in :attr:`action_type`: ``INFORMATION_REQUIRED`` (answer with
    ``service_problems.amend``), ``REAPPOINT`` (reserve an appointment, then amend with its id),
    ``RESUBMIT`` (an amendment or cancellation was rejected: correct and resend) or ``CONFIRM``
    (accept or reject the repair: pass this KCI to ``service_problems.accept_resolution``).

    ``service_problem_resolution`` is read when the gateway puts the resolution on the KCI
    itself, as it does on the KCIs listed in ``updates[]``; the docs publish no CONFIRM KCI, so
    :attr:`resolution` also looks at the entity.
    """

    entity: ServiceProblem
    service_problem_resolution: ServiceProblemResolution | None = None

    @property
    def entity_id(self) -> int:
        """The service problem id."""
        return self.entity.id

    @property
    def entity_status(self) -> ServiceProblemStatus | UnknownValue:
        """The problem's status (an enum member when known, else an :class:`UnknownValue`)."""
        return self.entity.status

    @property
    def is_terminal(self) -> bool:
        """True when the problem can no longer change (COMPLETED, CANCELLED, REJECTED,
        FAILED_TO_SEND)."""
        return self.entity.is_terminal

    @property
    def needs_tenant_action(self) -> bool:
        """True for an ACTION_REQUIRED KCI, or an entity waiting on the tenant (PENDING,
        RESOLVED)."""
        return self.is_action_required or self.entity.needs_tenant_action

    @property
    def action_type(self) -> InformationType | UnknownValue | None:
        """``action.type`` of an ACTION_REQUIRED KCI (``CONFIRM``...), else None."""
        return None if self.action is None else self.action.type

    @property
    def is_confirm(self) -> bool:
        """True when the tenant must accept or reject the supplier's resolution."""
        return self.action_type == InformationType.CONFIRM

    @property
    def resolution(self) -> ServiceProblemResolution | None:
        """The resolution this KCI is about: on the KCI itself, else the entity's pending one."""
        if self.service_problem_resolution is not None:
            return self.service_problem_resolution
        return self.entity.pending_resolution

    @property
    def resolution_id(self) -> int | None:
        """The id ``accept_resolution``/``reject_resolution`` need (not the problem id)."""
        resolution = self.resolution
        return None if resolution is None else resolution.id


class GenericKci(_KciEnvelope):
    """A KCI about any entity the SDK does not model in depth: orders of every kind,
    unsolicited ceases, and entity types published after this release.

    ``entity`` is kept as the mapping that arrived, so an odd value deep inside it never stops the
    KCI from being received. :attr:`entity_id` and :attr:`entity_status` read ``id`` and
    ``status`` when they are present and of a usable type.
    """

    entity: dict[str, Any]

    @property
    def entity_id(self) -> str | int | None:
        """``entity.id`` when it is a string or an integer, else None."""
        value = self.entity.get("id")
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        return None

    @property
    def entity_status(self) -> str | None:
        """``entity.status`` when it is a string, else None."""
        value = self.entity.get("status")
        return value if isinstance(value, str) else None

    @property
    def is_terminal(self) -> bool:
        """True when the entity status is an end state (see ``GENERIC_TERMINAL_STATUSES``)."""
        return self.entity_status in GENERIC_TERMINAL_STATUSES


#: Any parsed KCI. Narrow with ``isinstance(kci, ServiceTestKci)`` (or ServiceProblemKci).
Kci: TypeAlias = ServiceTestKci | ServiceProblemKci | GenericKci
