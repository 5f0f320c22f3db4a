"""fibrecafe-client: the typed Python SDK for the Fibre Cafe (Fibre Gateway) tenant API.

Quick start::

    from fibrecafe_client import FibreCafe, ProblemType

    with FibreCafe(client_id="...", client_secret="...", environment="cvt") as client:
        test = client.service_tests.create(
            service_id="BBEU00537760",
            problem_type=ProblemType.OUTAGE,
            service_specification="FTTP",
            supplier="FIBRECO",
            characteristics={"SERVICE_HAS_WORKED": "false"},
        )
        final = client.service_tests.wait(test.id, timeout=600)

Results also arrive as KCI webhooks: see :func:`parse_kci` and :class:`KciReceiver`.
"""

from typing import TYPE_CHECKING

from ._aiohttp import aiohttp_http_client
from ._client import AsyncFibreCafe, FibreCafe, TokenInfo
from ._retry import RetryPolicy
from ._telemetry import configure_telemetry, telemetry_enabled
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    FibreCafeError,
    InternalServerError,
    KciParseError,
    KciStoreError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServiceProblemWaitTimeout,
    ServiceTestWaitTimeout,
    ServiceUnavailableError,
    TokenConnectionError,
    TokenError,
    TokenTimeoutError,
    UnprocessableEntityError,
)
from .models import (
    AddressIdentifier,
    CancellationReasonCode,
    Characteristic,
    Contact,
    EntityType,
    ErrorCode,
    GatewayError,
    InformationType,
    OutcomeResult,
    ProblemType,
    ResolutionDetails,
    ResolutionStatus,
    ServiceProblem,
    ServiceProblemAmendment,
    ServiceProblemCancellation,
    ServiceProblemCharacteristics,
    ServiceProblemRequest,
    ServiceProblemRequestStatus,
    ServiceProblemResolution,
    ServiceProblemStatus,
    ServiceProblemUpdate,
    ServiceProblemWarning,
    ServiceSpecification,
    ServiceTest,
    ServiceTestCharacteristics,
    ServiceTestMeasure,
    ServiceTestOutcome,
    ServiceTestResult,
    ServiceTestStatus,
    UnknownValue,
    UpdateType,
)
from .resources import AsyncServiceProblems, AsyncServiceTests, ServiceProblems, ServiceTests

if TYPE_CHECKING:  # loaded on first use by __getattr__ below
    from .kci import (
        AsyncKciStore,
        AsyncSequenceStore,
        BasicAuthVerifier,
        BearerTokenVerifier,
        GenericKci,
        InMemoryKciStore,
        InMemorySequenceStore,
        JwtVerifier,
        Kci,
        KciAction,
        KciAsgiApp,
        KciClaim,
        KciClaimResult,
        KciDelivery,
        KciEvent,
        KciInformation,
        KciOutcome,
        KciReceiver,
        KciResponse,
        KciStore,
        KciVerifier,
        KciWsgiApp,
        NoAuth,
        RedisKciStore,
        SequenceStore,
        ServiceProblemKci,
        ServiceTestKci,
        SupplierNote,
        parse_kci,
        store_from_env,
        verifier_from_env,
    )

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AddressIdentifier",
    "AsyncFibreCafe",
    "AsyncKciStore",
    "AsyncSequenceStore",
    "AsyncServiceProblems",
    "AsyncServiceTests",
    "AuthenticationError",
    "BadRequestError",
    "BasicAuthVerifier",
    "BearerTokenVerifier",
    "CancellationReasonCode",
    "Characteristic",
    "ConfigurationError",
    "Contact",
    "EntityType",
    "ErrorCode",
    "FibreCafe",
    "FibreCafeError",
    "GatewayError",
    "GenericKci",
    "InMemoryKciStore",
    "InMemorySequenceStore",
    "InformationType",
    "InternalServerError",
    "JwtVerifier",
    "Kci",
    "KciAction",
    "KciAsgiApp",
    "KciClaim",
    "KciClaimResult",
    "KciDelivery",
    "KciEvent",
    "KciInformation",
    "KciOutcome",
    "KciParseError",
    "KciReceiver",
    "KciResponse",
    "KciStore",
    "KciStoreError",
    "KciVerifier",
    "KciWsgiApp",
    "NoAuth",
    "NotFoundError",
    "OutcomeResult",
    "PermissionDeniedError",
    "ProblemType",
    "RateLimitError",
    "RedisKciStore",
    "RequestValidationError",
    "ResolutionDetails",
    "ResolutionStatus",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "SequenceStore",
    "ServiceProblem",
    "ServiceProblemAmendment",
    "ServiceProblemCancellation",
    "ServiceProblemCharacteristics",
    "ServiceProblemKci",
    "ServiceProblemRequest",
    "ServiceProblemRequestStatus",
    "ServiceProblemResolution",
    "ServiceProblemStatus",
    "ServiceProblemUpdate",
    "ServiceProblemWaitTimeout",
    "ServiceProblemWarning",
    "ServiceProblems",
    "ServiceSpecification",
    "ServiceTest",
    "ServiceTestCharacteristics",
    "ServiceTestKci",
    "ServiceTestMeasure",
    "ServiceTestOutcome",
    "ServiceTestResult",
    "ServiceTestStatus",
    "ServiceTestWaitTimeout",
    "ServiceTests",
    "ServiceUnavailableError",
    "SupplierNote",
    "TokenConnectionError",
    "TokenError",
    "TokenInfo",
    "TokenTimeoutError",
    "UnknownValue",
    "UnprocessableEntityError",
    "UpdateType",
    "__version__",
    "aiohttp_http_client",
    "configure_telemetry",
    "parse_kci",
    "store_from_env",
    "telemetry_enabled",
    "verifier_from_env",
]

# The KCI side (receiver, verifiers, adapters, the KCI models) is imported on first use, so a
# client that never parses a KCI does not pay for it at import (docs/performance.md).
_KCI_NAMES = frozenset(
    {
        "AsyncKciStore",
        "AsyncSequenceStore",
        "BasicAuthVerifier",
        "BearerTokenVerifier",
        "GenericKci",
        "InMemoryKciStore",
        "InMemorySequenceStore",
        "JwtVerifier",
        "Kci",
        "KciAction",
        "KciAsgiApp",
        "KciClaim",
        "KciClaimResult",
        "KciDelivery",
        "KciInformation",
        "KciEvent",
        "KciOutcome",
        "KciReceiver",
        "KciResponse",
        "KciStore",
        "KciVerifier",
        "KciWsgiApp",
        "NoAuth",
        "RedisKciStore",
        "SequenceStore",
        "ServiceProblemKci",
        "ServiceTestKci",
        "SupplierNote",
        "parse_kci",
        "store_from_env",
        "verifier_from_env",
    }
)


if not TYPE_CHECKING:  # type checkers see the imports above (and flag unknown names)

    def __getattr__(name: str) -> object:
        if name in _KCI_NAMES:
            from . import kci  # noqa: PLC0415 - lazy on purpose

            value = getattr(kci, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _KCI_NAMES)
