"""Service problems (trouble tickets, TMF656): what ``/service-problem*`` return and accept.

One :class:`ServiceProblem` model serves the API responses and the SERVICE_PROBLEM KCI entity,
as :class:`~fibrecafe_client.ServiceTest` does for tests.

The public docs of this area are partial (see ``docs/service-problems.md``). Where they are
silent the models are tolerant: only ``id`` and ``status`` of a problem are required, unknown
fields are kept in ``model_extra``, unknown enum values are kept (as
:class:`~fibrecafe_client.UnknownValue` strings), and no rule the docs do not state is enforced
on the client side.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias, cast

from pydantic import Field, field_validator

from ._base import FibreCafeModel
from ._enums import (
    KNOWN_FIRST,
    OpenProblemType,
    OpenUpdateType,
    OutcomeResult,
    ProblemType,
    ProblemTypeArgument,
    ServiceTestStatus,
    UnknownValue,
)
from ._errors import GatewayError
from ._service_tests import (
    Characteristic,
    ServiceSpecification,
    normalise_characteristics,
    render_wire_datetime,
)
from ._updates import KciAction, KciInformation, SupplierNote

if TYPE_CHECKING:
    import httpx

    from ._service_tests import ServiceTest

__all__ = [
    "AddressIdentifier",
    "CancellationReasonCode",
    "Contact",
    "ProblemCharacteristicsInput",
    "ResolutionDetails",
    "ResolutionStatus",
    "ServiceProblem",
    "ServiceProblemAmendment",
    "ServiceProblemAmendmentRequest",
    "ServiceProblemCancellation",
    "ServiceProblemCancellationRequest",
    "ServiceProblemCharacteristics",
    "ServiceProblemRequest",
    "ServiceProblemRequestStatus",
    "ServiceProblemResolution",
    "ServiceProblemStatus",
    "ServiceProblemUpdate",
    "ServiceProblemWarning",
    "normalise_problem_characteristics",
]


class ServiceProblemStatus(StrEnum):
    """Lifecycle of a service problem (TMF656 adapted by the gateway): the 14 documented values.

    Terminal: ``FAILED_TO_SEND``, ``REJECTED``, ``COMPLETED`` (documented) and ``CANCELLED``
    (undocumented; terminal for orders, so here too). Waiting on the tenant: ``PENDING`` (the
    supplier needs information or a new appointment) and ``RESOLVED`` (accept or reject the
    repair). ``NETWORK_INCIDENT``, ``PENDING_AMENDMENT`` and ``PENDING_CANCELLATION`` are not
    described by the docs and are treated as "in progress".
    """

    RECEIVED_BY_GATEWAY = "RECEIVED_BY_GATEWAY"
    SENT_TO_SUPPLIER = "SENT_TO_SUPPLIER"
    FAILED_TO_SEND = "FAILED_TO_SEND"
    REJECTED = "REJECTED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    IN_PROGRESS = "IN_PROGRESS"
    PENDING = "PENDING"
    HELD = "HELD"
    NETWORK_INCIDENT = "NETWORK_INCIDENT"
    PENDING_AMENDMENT = "PENDING_AMENDMENT"
    PENDING_CANCELLATION = "PENDING_CANCELLATION"
    CANCELLED = "CANCELLED"
    RESOLVED = "RESOLVED"
    COMPLETED = "COMPLETED"

    @property
    def is_terminal(self) -> bool:
        """True for states a problem never leaves (a completed problem cannot be reopened)."""
        return self in _TERMINAL_PROBLEM_STATUSES

    @property
    def needs_tenant_action(self) -> bool:
        """True for PENDING (answer the supplier) and RESOLVED (accept or reject the repair)."""
        return self in _TENANT_ACTION_STATUSES


_TERMINAL_PROBLEM_STATUSES: Final = frozenset(
    {
        ServiceProblemStatus.FAILED_TO_SEND,
        ServiceProblemStatus.REJECTED,
        ServiceProblemStatus.CANCELLED,
        ServiceProblemStatus.COMPLETED,
    }
)
_TENANT_ACTION_STATUSES: Final = frozenset(
    {ServiceProblemStatus.PENDING, ServiceProblemStatus.RESOLVED}
)


class ServiceProblemRequestStatus(StrEnum):
    """State of an amendment or cancellation request ("state model for amendment and
    cancellation requests"). Terminal: ``FAILED_TO_SEND``, ``REJECTED``, ``COMPLETED``."""

    RECEIVED_BY_GATEWAY = "RECEIVED_BY_GATEWAY"
    PENDING = "PENDING"
    FAILED_TO_SEND = "FAILED_TO_SEND"
    REJECTED = "REJECTED"
    COMPLETED = "COMPLETED"


class ResolutionStatus(StrEnum):
    """``status`` of a resolution: ``PENDING`` awaits the tenant's decision."""

    PENDING = "PENDING"
    REJECTED = "REJECTED"
    ACCEPTED = "ACCEPTED"


class CancellationReasonCode(StrEnum):
    """Why the tenant cancels a problem (``reasonCode`` of a cancellation)."""

    ISSUE_RESOLVED = "ISSUE_RESOLVED"
    CUSTOMER_NETWORK_ISSUE = "CUSTOMER_NETWORK_ISSUE"
    NO_LONGER_REQUIRED = "NO_LONGER_REQUIRED"
    OTHER = "OTHER"


OpenServiceProblemStatus: TypeAlias = Annotated[ServiceProblemStatus | UnknownValue, KNOWN_FIRST]
OpenRequestStatus: TypeAlias = Annotated[ServiceProblemRequestStatus | UnknownValue, KNOWN_FIRST]
OpenResolutionStatus: TypeAlias = Annotated[ResolutionStatus | UnknownValue, KNOWN_FIRST]
OpenCancellationReason: TypeAlias = Annotated[CancellationReasonCode | UnknownValue, KNOWN_FIRST]
CancellationReasonArgument: TypeAlias = Annotated[CancellationReasonCode | str, KNOWN_FIRST]


class ServiceProblemWarning(UserWarning):
    """A problem is being raised against the documented rules (a GREEN or FAILED test, or one
    past its two-hour window). A warning, not an error: the gateway is the authority."""


class _ResponseMetadata:
    """``request_id``, ``conversation_id`` and ``http_response`` of objects the client returns.

    Kept in ``vars(self)`` under underscore names (as on ServiceTest): pydantic leaves them out
    of validation, dumps, reprs and equality, and they cost nothing until set.
    """

    @property
    def request_id(self) -> str | None:
        """``X-Request-ID`` of the HTTP attempt that returned this object (None for KCIs)."""
        value: str | None = vars(self).get("_request_id")
        return value

    @property
    def conversation_id(self) -> str | None:
        """``X-Conversation-ID`` of the call that returned this object (None for KCIs)."""
        value: str | None = vars(self).get("_conversation_id")
        return value

    @property
    def http_response(self) -> httpx.Response | None:
        """The raw ``httpx.Response`` this object was parsed from (None for KCIs)."""
        value: httpx.Response | None = vars(self).get("_http_response")
        return value

    def _attach_response(
        self, response: httpx.Response, *, request_id: str | None, conversation_id: str | None
    ) -> None:
        vars(self).update(
            _http_response=response, _request_id=request_id, _conversation_id=conversation_id
        )


class Contact(FibreCafeModel):
    """A person the supplier can reach at the address: ``{name, email, phoneNumber}``.

    The docs show these fields only in samples (their constraints were cut off), so all are
    optional and free strings.
    """

    name: str | None = None
    email: str | None = None
    phone_number: str | None = None


class AdditionalIdentifier(FibreCafeModel):
    """Another identifier of the same address, ``{id, type}``."""

    id: str | None = None
    type: str | None = None


class AddressIdentifier(FibreCafeModel):
    """Where the fault is: an address id and its type (``UPRN``, ``NAD``, ``DistrictCode``,
    ``ROBT``; an open string), with optional ``additional_identifiers``."""

    id: str | None = None
    type: str | None = None
    additional_identifiers: list[AdditionalIdentifier] = Field(
        default_factory=list[AdditionalIdentifier]
    )


class ResolutionDetails(FibreCafeModel):
    """What the supplier says it did: ``resolution_code`` (e.g. ``CUSTOMER_FAULT_MODEM``) and
    more. Every value set is only partly published, so all are open strings."""

    resolution_code: str | None = None
    resolution_category: str | None = None
    resolution_text: str | None = None
    supplier_codes: list[str] = Field(default_factory=list[str])
    fault_code: list[str] = Field(default_factory=list[str])


class ServiceProblemResolution(_ResponseMetadata, FibreCafeModel):
    """The supplier's resolution of a problem, awaiting (``PENDING``) or after the tenant's
    decision. Returned by ``PATCH /service-problem-resolutions/{id}`` and carried in
    ``updates[].serviceProblemResolution``.

    ``id`` is the **resolution's** id, the one :meth:`ServiceProblems.accept_resolution` takes.
    """

    id: int
    service_problem_id: int | None = None
    status: OpenResolutionStatus | None = None
    resolved_date: datetime | None = None
    closed_date: datetime | None = None
    resolution_details: ResolutionDetails | None = None
    sla_violation: list[str] = Field(default_factory=list[str])
    tenant_notes: str | None = None

    @property
    def is_pending(self) -> bool:
        """True while the resolution awaits the tenant's decision."""
        return self.status == ResolutionStatus.PENDING

    @property
    def resolution_id(self) -> int:
        """The same as :attr:`id` (so any object with a resolution answers the same name)."""
        return self.id


class ServiceProblemUpdate(FibreCafeModel):
    """One KCI of ``updates[]`` in ``GET /service-problems/{id}``: the KCI envelope without
    ``entity``, and, on a resolution, ``service_problem_resolution``.

    Every field is optional here (the docs cut off after ``sequenceNumber``).
    """

    id: str | None = None
    supplier: str | None = None
    sequence_number: int | None = None
    issued_on: datetime | None = None
    received_on: datetime | None = None
    delivered_on: datetime | None = None
    delivery_status: str | None = None
    update_type: OpenUpdateType | None = None
    information: KciInformation | None = None
    action: KciAction | None = None
    error: GatewayError | None = None
    supplier_notes: list[SupplierNote] = Field(default_factory=list[SupplierNote])
    service_problem_resolution: ServiceProblemResolution | None = None


def _pending_resolution(
    updates: Iterable[ServiceProblemUpdate], direct: ServiceProblemResolution | None
) -> ServiceProblemResolution | None:
    if direct is not None and direct.is_pending:
        return direct
    for update in reversed(list(updates)):
        resolution = update.service_problem_resolution
        if resolution is not None and resolution.is_pending:
            return resolution
    return None


class ServiceProblem(_ResponseMetadata, FibreCafeModel):
    """A service problem as the gateway reports it (create, get, and SERVICE_PROBLEM KCIs).

    Only ``id`` and ``status`` are required: the docs do not say which other fields ``GET``
    returns. ``status`` and ``problem_type`` are enum members when known, else plain strings.
    Ids are unbounded ints (a published ``parentServiceProblemId`` is beyond int32). Objects
    returned by the client also carry ``request_id``, ``conversation_id`` and
    ``http_response``; on KCI entities those are None.

    ``service_problem_resolution`` is not a documented entity field; it is read when a gateway
    puts the resolution on the entity of a CONFIRM KCI (the docs only show it in ``updates[]``).
    """

    id: int
    status: OpenServiceProblemStatus
    created: datetime | None = None
    updated: datetime | None = None
    supplier_identifier: str | None = None
    external_identifier: str | None = None
    problem_type: OpenProblemType | None = None
    problem_text: str | None = None
    service_id: str | None = None
    service_specification: ServiceSpecification | None = None
    address: AddressIdentifier | None = None
    supplier: str | None = None
    service_test_id: int | None = None
    characteristics: list[Characteristic] = Field(default_factory=list[Characteristic])
    primary_contact: Contact | None = None
    secondary_contact: Contact | None = None
    appointment_reservation_id: int | None = None
    parent_service_problem_id: int | None = None
    hazards: str | None = None
    on_site_restrictions: str | None = None
    notes: str | None = None
    updates: list[ServiceProblemUpdate] = Field(default_factory=list[ServiceProblemUpdate])
    service_problem_resolution: ServiceProblemResolution | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the problem can no longer change (COMPLETED, CANCELLED, REJECTED,
        FAILED_TO_SEND). An unknown status is not terminal."""
        return isinstance(self.status, ServiceProblemStatus) and self.status.is_terminal

    @property
    def needs_tenant_action(self) -> bool:
        """True when the supplier waits on the tenant: PENDING (answer the latest action KCI,
        usually with an amendment) or RESOLVED (accept or reject the resolution)."""
        return isinstance(self.status, ServiceProblemStatus) and self.status.needs_tenant_action

    @property
    def latest_update(self) -> ServiceProblemUpdate | None:
        """The update with the highest ``sequenceNumber`` (the last listed on a tie)."""
        if not self.updates:
            return None
        return max(
            reversed(self.updates),
            key=lambda u: -1 if u.sequence_number is None else u.sequence_number,
        )

    @property
    def pending_action(self) -> KciAction | None:
        """The ``action`` of the latest update when it is an ACTION_REQUIRED one, else None."""
        latest = self.latest_update
        return None if latest is None else latest.action

    @property
    def pending_resolution(self) -> ServiceProblemResolution | None:
        """The resolution awaiting the tenant's decision (``status: PENDING``), if any: from
        ``service_problem_resolution`` or the latest ``updates[]`` entry that carries one.

        None when the problem is in a known status other than RESOLVED: ``updates[]`` are the
        KCIs as sent, so a resolution decided since still shows PENDING there.
        """
        if isinstance(self.status, ServiceProblemStatus) and (
            self.status is not ServiceProblemStatus.RESOLVED
        ):
            return None
        return _pending_resolution(self.updates, self.service_problem_resolution)

    @property
    def resolution_id(self) -> int | None:
        """The id to pass to ``accept_resolution``/``reject_resolution``: the pending
        resolution's (not the problem's), or None when none is pending."""
        resolution = self.pending_resolution
        return None if resolution is None else resolution.id


class ServiceProblemAmendment(_ResponseMetadata, FibreCafeModel):
    """The gateway's record of an amendment request (201 of ``POST /service-problem-amendments``).

    ``id`` is the amendment's own id; the supplier confirms or rejects it later by KCI (a
    rejection arrives as a RESUBMIT action).
    """

    id: int
    status: OpenRequestStatus | None = None
    service_problem_id: int | None = None
    problem_text: str | None = None
    characteristics: list[Characteristic] = Field(default_factory=list[Characteristic])
    hazards: str | None = None
    on_site_restrictions: str | None = None
    notes: str | None = None
    primary_contact: Contact | None = None
    secondary_contact: Contact | None = None
    appointment_reservation_id: int | None = None


class ServiceProblemCancellation(_ResponseMetadata, FibreCafeModel):
    """The gateway's record of a cancellation request (201 of
    ``POST /service-problem-cancellations``); ``id`` is the cancellation's own id."""

    id: int
    status: OpenRequestStatus | None = None
    service_problem_id: int | None = None
    reason_code: OpenCancellationReason | None = None
    text: str | None = None


# -- characteristics -------------------------------------------------------------------------


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class ServiceProblemCharacteristics:
    """Typed builder for the documented problem characteristics.

    Bools become ``"true"``/``"false"`` and datetimes ``2024-04-30T12:00:00.000Z``. The
    documented rules are enforced: ``SERVICE_HAS_WORKED`` is mandatory and
    ``SERVICE_LAST_WORKED`` is required when it is true (and refused when it is false). Every
    other characteristic is optional; None leaves it out. The docs state no per-problem-type
    requirement for problems, so none is checked. ``extra`` carries supplier-specific
    characteristics through unchanged. The wire order is the one of the published sample.

    Raises:
        TypeError: a flag is not a bool.
        ValueError: the set breaks a documented rule, or a datetime is naive.

    Examples:
        >>> from datetime import datetime, UTC
        >>> ServiceProblemCharacteristics(
        ...     service_has_worked=True,
        ...     service_last_worked=datetime(2024, 4, 30, 12, tzinfo=UTC),
        ...     cpe_power_on=True,
        ... ).to_mapping()
        {'CPE_POWER_ON': 'true', 'SERVICE_HAS_WORKED': 'true', 'SERVICE_LAST_WORKED': '2024-04-30T12:00:00.000Z'}
    """  # noqa: E501 - a doctest output line

    service_has_worked: bool
    service_last_worked: datetime | None = None
    end_user_equipment_checked: bool | None = None
    end_user_cpe: str | None = None
    cpe_power_on: bool | None = None
    usage_changes: bool | None = None
    product_changes: bool | None = None
    access_24hr: bool | None = None
    trc_chargeband: str | int | None = None
    repeat_problem: bool | None = None
    ont_power_on: bool | None = None
    cpe_sync_light_status: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict[str, str])

    def __post_init__(self) -> None:
        if not isinstance(self.service_has_worked, bool):
            raise TypeError("service_has_worked must be a bool")
        if self.service_has_worked and self.service_last_worked is None:
            raise ValueError("service_last_worked is required when service_has_worked is True")
        if not self.service_has_worked and self.service_last_worked is not None:
            raise ValueError("service_last_worked must be None when service_has_worked is False")
        if self.service_last_worked is not None and self.service_last_worked.utcoffset() is None:
            raise ValueError("service_last_worked must be timezone-aware")
        for name in _FLAG_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool or None")
        for name in ("end_user_cpe", "cpe_sync_light_status"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string or None")
        band = self.trc_chargeband
        if band is not None and (isinstance(band, bool) or not str(band).strip()):
            raise ValueError("trc_chargeband must be a non-empty string or an int")
        for name in self.extra:
            if name in _PROBLEM_NAMES:
                raise ValueError(f"{name} is set through its own argument, not extra")

    def to_mapping(self) -> dict[str, str]:
        """The characteristics as the ``name -> value`` strings the gateway expects."""
        rendered: dict[str, str] = {}

        def put(name: str, value: object) -> None:
            if value is None:
                return
            rendered[name] = _flag(value) if isinstance(value, bool) else str(value)

        put("END_USER_EQUIPMENT_CHECKED", self.end_user_equipment_checked)
        put("END_USER_CPE", self.end_user_cpe)
        put("CPE_POWER_ON", self.cpe_power_on)
        put("USAGE_CHANGES", self.usage_changes)
        put("PRODUCT_CHANGES", self.product_changes)
        put("24HR_ACCESS", self.access_24hr)
        put("TRC_CHARGEBAND", self.trc_chargeband)
        put("REPEAT_PROBLEM", self.repeat_problem)
        put("ONT_POWER_ON", self.ont_power_on)
        put("CPE_SYNC_LIGHT_STATUS", self.cpe_sync_light_status)
        put("SERVICE_HAS_WORKED", self.service_has_worked)
        if self.service_last_worked is not None:
            rendered["SERVICE_LAST_WORKED"] = render_wire_datetime(self.service_last_worked)
        rendered.update(self.extra)
        return rendered

    def to_list(self) -> list[Characteristic]:
        """The characteristics as wire ``Characteristic`` objects."""
        return [Characteristic(name=n, value=v) for n, v in self.to_mapping().items()]


_FLAG_FIELDS: Final = (
    "end_user_equipment_checked",
    "cpe_power_on",
    "usage_changes",
    "product_changes",
    "access_24hr",
    "repeat_problem",
    "ont_power_on",
)
_PROBLEM_NAMES: Final = frozenset(
    {
        "SERVICE_HAS_WORKED",
        "SERVICE_LAST_WORKED",
        "END_USER_EQUIPMENT_CHECKED",
        "END_USER_CPE",
        "CPE_POWER_ON",
        "USAGE_CHANGES",
        "PRODUCT_CHANGES",
        "24HR_ACCESS",
        "TRC_CHARGEBAND",
        "REPEAT_PROBLEM",
        "ONT_POWER_ON",
        "CPE_SYNC_LIGHT_STATUS",
    }
)

#: Everything the service-problem calls accept as ``characteristics``.
ProblemCharacteristicsInput: TypeAlias = (
    ServiceProblemCharacteristics
    | Mapping[str, str]
    | Iterable[Characteristic | Mapping[str, Any] | tuple[str, str]]
)


def normalise_problem_characteristics(value: ProblemCharacteristicsInput) -> list[Characteristic]:
    """Any accepted problem characteristics input as wire ``Characteristic`` objects.

    The typed :class:`ServiceProblemCharacteristics`, a ``name -> value`` mapping of strings,
    or an iterable of ``Characteristic`` objects, ``{"name", "value"}`` mappings or pairs.
    A hand-built set is sent as given (its names are an open set). Raises TypeError or
    ValueError naming the offending item.
    """
    if isinstance(value, ServiceProblemCharacteristics):
        return value.to_list()
    return normalise_characteristics(value)


# -- request bodies --------------------------------------------------------------------------

_Text1000 = Annotated[str, Field(min_length=1, max_length=1000)]


def _word(value: ProblemType | str) -> ProblemType | str:
    # The documented pattern is ^[\w_]{5,50}, which the documented value CPE breaks: only
    # "word characters" is checked, never the length.
    if not re.fullmatch(r"\w+", value):
        raise ValueError("must be a problem type such as OUTAGE (word characters only)")
    return value


class ServiceProblemRequest(FibreCafeModel):
    """The body of ``POST /service-problems``, validated before anything is sent.

    The documented constraints (old Redoc page; the v1.17 page could not be read) are checked:
    ``problemText`` 10-80 characters, ``supplier`` 1-20 word characters, ``externalIdentifier``
    1-64, free texts 1-1000, a non-empty characteristic list, a primary contact. The
    ``problemType`` length pattern (5-50) is **not** enforced: it contradicts the documented
    ``CPE``. ``serviceId`` is required here although the extracted schema omits it (every
    sample and the supplier API carry it); ``serviceSpecification`` and the rest are optional.
    """

    external_identifier: str | None = Field(default=None, min_length=1, max_length=64)
    problem_type: ProblemTypeArgument
    problem_text: str = Field(min_length=10, max_length=80)
    service_id: str = Field(min_length=1, max_length=50)
    service_specification: ServiceSpecification | None = None
    address: AddressIdentifier | None = None
    supplier: str = Field(min_length=1, max_length=20, pattern=r"^\w+$")
    service_test_id: int = Field(ge=1)
    characteristics: list[Characteristic] = Field(min_length=1)
    primary_contact: Contact
    secondary_contact: Contact | None = None
    appointment_reservation_id: int | None = Field(default=None, ge=1)
    parent_service_problem_id: int | None = Field(default=None, ge=1)
    hazards: _Text1000 | None = None
    on_site_restrictions: _Text1000 | None = None
    notes: _Text1000 | None = None

    @field_validator("problem_type")
    @classmethod
    def _problem_type_is_a_word(cls, value: ProblemType | str) -> ProblemType | str:
        return _word(value)

    def to_body(self) -> bytes:
        """The JSON body sent: camelCase, only the fields that were given (None left out)."""
        return self.model_dump_json(exclude_none=True).encode()


class ServiceProblemAmendmentRequest(FibreCafeModel):
    """The body of ``POST /service-problem-amendments``.

    Only ``serviceProblemId`` is required. Whether ``characteristics`` replaces the problem's
    set or merges into it is undocumented (for orders, arrays are replaced): send the full set.
    """

    service_problem_id: int = Field(ge=1)
    problem_text: str | None = Field(default=None, min_length=10, max_length=80)
    characteristics: list[Characteristic] | None = Field(default=None, min_length=1)
    hazards: _Text1000 | None = None
    on_site_restrictions: _Text1000 | None = None
    notes: _Text1000 | None = None
    primary_contact: Contact | None = None
    secondary_contact: Contact | None = None
    appointment_reservation_id: int | None = Field(default=None, ge=1)

    def to_body(self) -> bytes:
        """The JSON body sent (None fields left out)."""
        return self.model_dump_json(exclude_none=True).encode()


class ServiceProblemCancellationRequest(FibreCafeModel):
    """The body of ``POST /service-problem-cancellations``: ``serviceProblemId``,
    ``reasonCode`` (an open set; documented pattern ``^[A-Z_]{5,50}``) and optional ``text``.
    Whether ``OTHER`` requires ``text`` is undocumented, so it is not required."""

    service_problem_id: int = Field(ge=1)
    reason_code: CancellationReasonArgument
    text: _Text1000 | None = None

    @field_validator("reason_code")
    @classmethod
    def _reason_is_upper_word(
        cls, value: CancellationReasonCode | str
    ) -> CancellationReasonCode | str:
        if not re.fullmatch(r"[A-Z_]{5,50}", value):
            raise ValueError("must be a reason code such as NO_LONGER_REQUIRED ([A-Z_]{5,50})")
        return value

    def to_body(self) -> bytes:
        """The JSON body sent (None fields left out)."""
        return self.model_dump_json(exclude_none=True).encode()


# -- from a service test to a problem ----------------------------------------------------------


def problem_request_from_test(
    test: ServiceTest,
    *,
    problem_text: str,
    characteristics: ProblemCharacteristicsInput,
    primary_contact: Contact | Mapping[str, str],
    problem_type: ProblemType | str | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> ServiceProblemRequest:
    """The :class:`ServiceProblemRequest` for raising a problem from ``test``.

    See :meth:`ServiceTest.problem_request <fibrecafe_client.ServiceTest.problem_request>`.
    """
    current = datetime.now(UTC) if now is None else now
    if not test.may_raise_problem(now=current):
        warnings.warn(_why_not(test, current), ServiceProblemWarning, stacklevel=3)
    body: dict[str, Any] = {
        "service_test_id": test.id,
        "service_id": test.service_id,
        "service_specification": ServiceSpecification(id=test.service_specification.id),
        "supplier": test.supplier,
        "problem_type": test.problem_type if problem_type is None else problem_type,
        "problem_text": problem_text,
        "characteristics": normalise_problem_characteristics(characteristics),
        "primary_contact": primary_contact,
        **fields,
    }
    return ServiceProblemRequest.model_validate(body)


def _why_not(test: ServiceTest, now: datetime) -> str:
    result = test.test_result
    if test.status != ServiceTestStatus.COMPLETED:
        return (
            f"service test {test.id} is {test.status}, not COMPLETED: the gateway allows a "
            "problem only after a completed AMBER, RED or UNAVAILABLE test"
        )
    if result in (OutcomeResult.GREEN, OutcomeResult.FAILED):
        return (
            f"service test {test.id} has a {result} result: the gateway does not allow a "
            "problem after a GREEN or FAILED test"
        )
    if result not in (OutcomeResult.AMBER, OutcomeResult.RED, OutcomeResult.UNAVAILABLE):
        return f"service test {test.id} has result {result!r}, which may not allow a problem"
    ends = test.problem_window_ends
    shown = ends.isoformat() if ends is not None else "?"
    return (
        f"service test {test.id}'s two-hour window to raise a problem closed at {shown} "
        f"(now {now.isoformat()}): run a new service test"
    )


def resolution_id_of(value: object) -> int:
    """A resolution id from an int, a string of digits, or any object with ``resolution_id``
    (a ServiceProblem, a ServiceProblemKci, a ServiceProblemResolution)."""
    if isinstance(value, bool):
        raise ValueError("a resolution id must be an int or a string of digits, not a bool")
    if not isinstance(value, int | str):
        found = getattr(value, "resolution_id", None)
        if found is None:
            kind = type(value).__name__
            raise ValueError(f"this {kind} carries no pending resolution (no resolution_id)")
        value = cast("object", found)
    return positive_id("resolution_id", value)


def positive_id(name: str, value: object) -> int:
    """A gateway id as a positive int (``"123"`` accepted); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a string of digits, not a bool")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 40:
        number = int(value)
        if number > 0:
            return number
    raise ValueError(f"{name} must be a positive integer id, got {value!r}")
