"""Service tests: what ``POST/GET /service-tests`` return and what SERVICE_TEST KCIs carry.

One model serves both the API responses and the KCI entity, so a tenant's code that handles a
``ServiceTest`` works whichever way the test reached it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from pydantic import Field, field_validator

from ._base import FibreCafeModel
from ._enums import (
    OpenOutcomeResult,
    OpenProblemType,
    OpenServiceTestStatus,
    OutcomeResult,
    ProblemType,
    ProblemTypeArgument,
    ServiceTestStatus,
    UnknownValue,
)

if TYPE_CHECKING:
    import httpx

    from ._service_problems import (
        Contact,
        ProblemCharacteristicsInput,
        ServiceProblemCharacteristics,
        ServiceProblemRequest,
    )

__all__ = [
    "PROBLEM_WINDOW",
    "Characteristic",
    "CharacteristicsInput",
    "ServiceSpecification",
    "ServiceTest",
    "ServiceTestCharacteristics",
    "ServiceTestMeasure",
    "ServiceTestOutcome",
    "ServiceTestRequest",
    "ServiceTestResult",
    "normalise_characteristics",
    "render_wire_datetime",
]

#: How long after a test a service problem may be raised from it (gateway docs: 2 hours).
PROBLEM_WINDOW: Final = timedelta(hours=2)

# Results after which the gateway allows a service problem to be raised (CVT scenario pages).
_RAISABLE_RESULTS: Final = frozenset(
    {OutcomeResult.AMBER, OutcomeResult.RED, OutcomeResult.UNAVAILABLE}
)
# Where a test can never lead to a service problem: it ended without a result, or with a result
# that the gateway does not allow a problem for. (FAILED as a status is undocumented; it ends a
# test like FAILED_TO_SEND.)
_NEVER_RAISABLE_STATUSES: Final = frozenset(
    {ServiceTestStatus.REJECTED, ServiceTestStatus.FAILED_TO_SEND, ServiceTestStatus.FAILED}
)
_NEVER_RAISABLE_RESULTS: Final = frozenset({OutcomeResult.GREEN, OutcomeResult.FAILED})


class Characteristic(FibreCafeModel):
    """A ``{name, value}`` pair. Values are always strings on the wire, booleans included."""

    name: str
    value: str


class ServiceSpecification(FibreCafeModel):
    """The product of the service under test, e.g. ``{"id": "FTTP"}``. Ids vary by supplier."""

    id: str
    name: str | None = None


class ServiceTestMeasure(FibreCafeModel):
    """One measurement taken by the supplier's test, e.g. ``ONT_LIGHT_LEVEL = "-14.5" decibel``.

    The docs show these fields only in samples (types and required-ness were cut off), so all are
    optional. ``metric_value`` stays a string, as sent: units vary and some values are not numbers.
    """

    metric_name: str | None = None
    capture_date_time: datetime | None = None
    metric_value: str | None = None
    unit_of_measure: str | None = None
    rule_violation: bool | None = None
    rule_severity: str | None = None


class ServiceTestOutcome(FibreCafeModel):
    """The verdict: ``test_result`` (GREEN/AMBER/RED/...), an outcome ``code`` and texts.

    ``code`` is an open string: the documented list of outcome codes is incomplete.
    """

    test_result: OpenOutcomeResult | None = None
    code: str | None = None
    description: str | None = None
    supplier_codes: list[str] = Field(default_factory=list)
    supplier_text: str | None = None


class ServiceTestResult(FibreCafeModel):
    """``result`` of a completed service test.

    ``test_validity`` is when the result stops being usable to raise a service problem (in the
    published KCI it is exactly two hours after the gateway received the result).
    """

    test_validity: datetime | None = None
    test_measures: list[ServiceTestMeasure] = Field(default_factory=list[ServiceTestMeasure])
    test_outcome: ServiceTestOutcome | None = None


class ServiceTest(FibreCafeModel):
    """A service test as the gateway reports it (201 on create, 200 on get, and KCI entities).

    ``status`` and ``problem_type`` are enum members when known and plain strings when the
    gateway sends a value this SDK does not know yet. Objects returned by the client also carry
    the ``request_id`` and ``conversation_id`` they were fetched with and the raw
    ``http_response``; on KCI entities those are ``None``.
    """

    id: int
    status: OpenServiceTestStatus
    service_id: str
    problem_type: OpenProblemType
    service_specification: ServiceSpecification
    created: datetime | None = None
    updated: datetime | None = None
    supplier_reference: str | None = None
    supplier: str | None = None
    characteristics: list[Characteristic] = Field(default_factory=list[Characteristic])
    result: ServiceTestResult | None = None

    # Metadata lives in ``vars(self)`` under underscore names, not in pydantic private
    # attributes: those cost a Python-level initialiser on every parsed object (a third of the
    # time of parsing a KCI), these nothing until they are set. pydantic leaves such names out
    # of validation, dumps, reprs and equality; copies and pickles keep them.

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
        """The raw ``httpx.Response`` this object was parsed from, for headers (None for KCIs)."""
        value: httpx.Response | None = vars(self).get("_http_response")
        return value

    def _attach_response(
        self, response: httpx.Response, *, request_id: str | None, conversation_id: str | None
    ) -> None:
        vars(self).update(
            _http_response=response, _request_id=request_id, _conversation_id=conversation_id
        )

    @property
    def is_terminal(self) -> bool:
        """True once the test can no longer change (COMPLETED, REJECTED, FAILED_TO_SEND, FAILED).

        An unknown status is not terminal: waiting on it ends at the deadline, not early.
        """
        return isinstance(self.status, ServiceTestStatus) and self.status.is_terminal

    @property
    def test_result(self) -> OutcomeResult | UnknownValue | None:
        """Shortcut to ``result.test_outcome.test_result`` (None until there is a result)."""
        if self.result is None or self.result.test_outcome is None:
            return None
        return self.result.test_outcome.test_result

    @property
    def problem_window_ends(self) -> datetime | None:
        """When the 2-hour window to raise a service problem from this test closes.

        ``result.test_validity`` when the gateway sent it; otherwise two hours after ``updated``
        (or ``created``). None when the test has none of these timestamps, and None when no
        problem can ever be raised from it (REJECTED, FAILED_TO_SEND or FAILED, or a GREEN or
        FAILED result): there is no window to close.
        """
        if self.status in _NEVER_RAISABLE_STATUSES or self.test_result in _NEVER_RAISABLE_RESULTS:
            return None
        if self.result is not None and self.result.test_validity is not None:
            return self.result.test_validity
        anchor = self.updated or self.created
        return None if anchor is None else anchor + PROBLEM_WINDOW

    def may_raise_problem(self, *, now: datetime | None = None) -> bool:
        """Whether a service problem may be raised on the strength of this test, at ``now``.

        The documented rules: only a COMPLETED test with an AMBER, RED or UNAVAILABLE result
        (never GREEN or FAILED), and only within two hours. An unknown result is answered False,
        since the SDK cannot know the gateway's rule for it. When the test carries no timestamp
        the window cannot be checked here and only the result decides; the gateway still enforces
        it. ``now`` must be timezone-aware (defaults to the current UTC time).
        """
        if self.status != ServiceTestStatus.COMPLETED or self.test_result not in _RAISABLE_RESULTS:
            return False
        ends = self.problem_window_ends
        if ends is None:
            return True
        current = datetime.now(UTC) if now is None else now
        if current.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if ends.tzinfo is None:  # a naive gateway timestamp: the gateway speaks UTC
            ends = ends.replace(tzinfo=UTC)
        return current < ends

    def problem_request(
        self,
        *,
        problem_text: str,
        characteristics: ServiceProblemCharacteristics | ProblemCharacteristicsInput,
        primary_contact: Contact | Mapping[str, str],
        problem_type: ProblemType | str | None = None,
        now: datetime | None = None,
        **fields: Any,
    ) -> ServiceProblemRequest:
        """The body to raise a service problem from this test (pass it to
        ``client.service_problems.create_from``).

        Fills ``service_test_id``, ``service_id``, ``service_specification`` (its id),
        ``supplier`` and ``problem_type`` (overridable) from the test. Warns with
        :class:`~fibrecafe_client.ServiceProblemWarning`, and does not refuse, when
        :meth:`may_raise_problem` says no at ``now`` (a GREEN or FAILED result, a test not
        completed, or past its two-hour window): the gateway is the authority.

        Args:
            problem_text: the end user's description (10-80 characters).
            characteristics: a :class:`~fibrecafe_client.ServiceProblemCharacteristics` or a
                hand-built set (mapping or list).
            primary_contact: a :class:`~fibrecafe_client.Contact` or ``{"name", "email",
                "phoneNumber"}``.
            problem_type: overrides the test's problem type.
            now: the time to check the window at (aware; defaults to now, UTC).
            **fields: any other field of :class:`~fibrecafe_client.ServiceProblemRequest`
                (``external_identifier``, ``address``, ``notes``...).

        Raises:
            pydantic.ValidationError: a field breaks a documented constraint.
        """
        from ._service_problems import problem_request_from_test  # noqa: PLC0415 - a cycle

        return problem_request_from_test(
            self,
            problem_text=problem_text,
            characteristics=characteristics,
            primary_contact=primary_contact,
            problem_type=problem_type,
            now=now,
            **fields,
        )


def render_wire_datetime(value: datetime) -> str:
    """Render an aware datetime the way the gateway writes them: UTC, milliseconds, ``Z``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (a naive time is ambiguous)")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class ServiceTestCharacteristics:
    """Typed builder for the documented service-test characteristics.

    Renders Python values into the strings the gateway expects and enforces the documented
    rules before anything is sent:

    - ``SERVICE_HAS_WORKED`` is mandatory (a bool, sent as ``"true"``/``"false"``);
    - ``SERVICE_LAST_WORKED`` is required when the service has worked (an aware datetime, sent
      as ``2024-04-20T09:45:00.000Z``) and refused when it has not;
    - ``EQUIPMENT_TYPE`` is required for ``CPE`` problems (checked by :meth:`check_for`; its
      allowed values are not documented, so any non-empty string is accepted).

    ``extra`` carries supplier-specific characteristics through unchanged.

    Raises:
        TypeError: ``service_has_worked`` is not a bool.
        ValueError: the set breaks a documented rule, or a datetime is naive.

    Examples:
        >>> from datetime import datetime, UTC
        >>> ServiceTestCharacteristics(
        ...     service_has_worked=True,
        ...     service_last_worked=datetime(2024, 4, 20, 9, 45, tzinfo=UTC),
        ... ).to_mapping()
        {'SERVICE_HAS_WORKED': 'true', 'SERVICE_LAST_WORKED': '2024-04-20T09:45:00.000Z'}
    """

    service_has_worked: bool
    service_last_worked: datetime | None = None
    equipment_type: str | None = None
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
        if self.equipment_type is not None and not self.equipment_type.strip():
            raise ValueError("equipment_type must not be empty")
        for name in self.extra:
            if name in _DOCUMENTED_NAMES:
                raise ValueError(f"{name} is set through its own argument, not extra")

    def check_for(self, problem_type: ProblemType | str) -> None:
        """Raise ValueError if these characteristics do not suit ``problem_type`` (CPE rule)."""
        if problem_type == ProblemType.CPE and self.equipment_type is None:
            raise ValueError("equipment_type is required when problem_type is CPE")

    def to_mapping(self) -> dict[str, str]:
        """The characteristics as the ``name -> value`` strings the gateway expects."""
        rendered = {"SERVICE_HAS_WORKED": "true" if self.service_has_worked else "false"}
        if self.service_last_worked is not None:
            rendered["SERVICE_LAST_WORKED"] = render_wire_datetime(self.service_last_worked)
        if self.equipment_type is not None:
            rendered["EQUIPMENT_TYPE"] = self.equipment_type
        rendered.update(self.extra)
        return rendered

    def to_list(self) -> list[Characteristic]:
        """The characteristics as wire ``Characteristic`` objects."""
        return [Characteristic(name=n, value=v) for n, v in self.to_mapping().items()]


_DOCUMENTED_NAMES: Final = frozenset(
    {"SERVICE_HAS_WORKED", "SERVICE_LAST_WORKED", "EQUIPMENT_TYPE"}
)

#: Everything ``service_tests.create(characteristics=...)`` accepts.
CharacteristicsInput: TypeAlias = (
    ServiceTestCharacteristics
    | Mapping[str, str]
    | Iterable[Characteristic | Mapping[str, Any] | tuple[str, str]]
)


class ServiceTestRequest(FibreCafeModel):
    """The body of ``POST /service-tests``, validated before anything is sent.

    Constraints are the documented ones (``serviceId`` 1-50 characters, ``supplier`` a gateway
    system id of word characters, at least one characteristic). The semantic characteristic
    rules live in :class:`ServiceTestCharacteristics`, so a tenant sending a supplier-specific
    set by hand is not second-guessed.
    """

    service_id: str = Field(min_length=1, max_length=50)
    problem_type: ProblemTypeArgument
    service_specification: ServiceSpecification
    supplier: str = Field(min_length=1, max_length=20, pattern=r"^\w+$")
    characteristics: list[Characteristic] = Field(min_length=1)

    @field_validator("problem_type")
    @classmethod
    def _problem_type_is_a_word(cls, value: ProblemType | str) -> ProblemType | str:
        if not re.fullmatch(r"\w+", value):
            raise ValueError("must be a problem type such as OUTAGE (word characters only)")
        return value


def normalise_characteristics(value: CharacteristicsInput) -> list[Characteristic]:
    """Turn any accepted characteristics input into wire ``Characteristic`` objects.

    Accepts the typed :class:`ServiceTestCharacteristics`, a ``name -> value`` mapping, or an
    iterable of ``Characteristic`` objects, ``{"name", "value"}`` mappings or ``(name, value)``
    pairs. Raises TypeError or ValueError naming the offending item.
    """
    if isinstance(value, ServiceTestCharacteristics):
        return value.to_list()
    if isinstance(value, Mapping):
        items: list[Characteristic] = []
        for name, val in cast("Mapping[object, object]", value).items():
            if not isinstance(name, str) or not isinstance(val, str):
                raise TypeError(
                    f"characteristic {name!r}: names and values must be strings "
                    f"(got {type(val).__name__}); use ServiceTestCharacteristics for bools "
                    "and datetimes"
                )
            items.append(Characteristic(name=name, value=val))
        return items
    if isinstance(value, str | bytes):
        raise TypeError("characteristics must be a mapping or a list, not a string")
    result: list[Characteristic] = []
    for index, item in enumerate(value):
        if isinstance(item, Characteristic):
            result.append(item)
        elif isinstance(item, Mapping):
            result.append(Characteristic.model_validate(item))
        elif isinstance(item, tuple) and len(item) == 2:
            result.append(Characteristic(name=item[0], value=item[1]))
        else:
            raise TypeError(
                f"characteristics[{index}]: expected a Characteristic, a mapping or a "
                f"(name, value) pair, got {type(item).__name__}"
            )
    return result
