"""Typed models of the gateway's objects: service tests, error bodies and the open enums."""

from ._base import FibreCafeModel
from ._enums import (
    EntityType,
    ErrorCode,
    InformationType,
    OutcomeResult,
    ProblemType,
    ServiceTestStatus,
    UpdateType,
)
from ._errors import GatewayError
from ._service_tests import (
    PROBLEM_WINDOW,
    Characteristic,
    CharacteristicsInput,
    ServiceSpecification,
    ServiceTest,
    ServiceTestCharacteristics,
    ServiceTestMeasure,
    ServiceTestOutcome,
    ServiceTestRequest,
    ServiceTestResult,
    normalise_characteristics,
    render_wire_datetime,
)

__all__ = [
    "PROBLEM_WINDOW",
    "Characteristic",
    "CharacteristicsInput",
    "EntityType",
    "ErrorCode",
    "FibreCafeModel",
    "GatewayError",
    "InformationType",
    "OutcomeResult",
    "ProblemType",
    "ServiceSpecification",
    "ServiceTest",
    "ServiceTestCharacteristics",
    "ServiceTestMeasure",
    "ServiceTestOutcome",
    "ServiceTestRequest",
    "ServiceTestResult",
    "ServiceTestStatus",
    "UpdateType",
    "normalise_characteristics",
    "render_wire_datetime",
]
