"""The KCI envelope and its typed events: ``ServiceTestKci`` and ``GenericKci``.

A KCI ("Keep Customer Informed") is the update the gateway POSTs to the tenant. Every KCI has the
same envelope; ``entityType`` says what ``entity`` holds. Service tests are modelled in depth with
the same :class:`~fibrecafe_client.ServiceTest` the client returns; every other entity type (the
order kinds, unsolicited ceases, service problems and any type published later) is a
:class:`GenericKci` whose entity stays a plain mapping, so nothing inside it can make the envelope
unusable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

from pydantic import Field

from fibrecafe_client.models import (
    FibreCafeModel,
    GatewayError,
    ServiceTest,
    ServiceTestStatus,
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
    "ServiceTestKci",
    "SupplierNote",
]

#: Entity statuses after which an order or service problem no longer changes. The gateway does
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
    def entity_status(self) -> ServiceTestStatus | str:
        """The test's status (an enum member when known, else the raw string)."""
        return self.entity.status

    @property
    def is_terminal(self) -> bool:
        """True when the test can no longer change (COMPLETED, REJECTED, FAILED_TO_SEND...)."""
        return self.entity.is_terminal


class GenericKci(_KciEnvelope):
    """A KCI about any entity the SDK does not model in depth: orders of every kind,
    unsolicited ceases, service problems, and entity types published after this release.

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


#: Any parsed KCI. Narrow with ``isinstance(kci, ServiceTestKci)``.
Kci: TypeAlias = ServiceTestKci | GenericKci
