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
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ResponseValidationError,
    ServiceTestWaitTimeout,
    ServiceUnavailableError,
    TokenError,
    UnprocessableEntityError,
)
from .models import (
    Characteristic,
    EntityType,
    ErrorCode,
    GatewayError,
    InformationType,
    OutcomeResult,
    ProblemType,
    ServiceSpecification,
    ServiceTest,
    ServiceTestCharacteristics,
    ServiceTestMeasure,
    ServiceTestOutcome,
    ServiceTestResult,
    ServiceTestStatus,
    UpdateType,
)
from .resources import AsyncServiceTests, ServiceTests

if TYPE_CHECKING:  # loaded on first use by __getattr__ below
    from .kci import (
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
        KciDelivery,
        KciInformation,
        KciReceiver,
        KciResponse,
        KciStore,
        KciVerifier,
        KciWsgiApp,
        NoAuth,
        SequenceStore,
        ServiceTestKci,
        SupplierNote,
        parse_kci,
        verifier_from_env,
    )

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncFibreCafe",
    "AsyncServiceTests",
    "AuthenticationError",
    "BadRequestError",
    "BasicAuthVerifier",
    "BearerTokenVerifier",
    "Characteristic",
    "ConfigurationError",
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
    "KciDelivery",
    "KciInformation",
    "KciParseError",
    "KciReceiver",
    "KciResponse",
    "KciStore",
    "KciVerifier",
    "KciWsgiApp",
    "NoAuth",
    "NotFoundError",
    "OutcomeResult",
    "PermissionDeniedError",
    "ProblemType",
    "RateLimitError",
    "RequestValidationError",
    "ResponseValidationError",
    "RetryPolicy",
    "SequenceStore",
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
    "TokenError",
    "TokenInfo",
    "UnprocessableEntityError",
    "UpdateType",
    "__version__",
    "aiohttp_http_client",
    "configure_telemetry",
    "parse_kci",
    "telemetry_enabled",
    "verifier_from_env",
]

# The KCI side (receiver, verifiers, adapters, the KCI models) is imported on first use, so a
# client that never parses a KCI does not pay for it at import (docs/performance.md).
_KCI_NAMES = frozenset(
    {
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
        "KciDelivery",
        "KciInformation",
        "KciReceiver",
        "KciResponse",
        "KciStore",
        "KciVerifier",
        "KciWsgiApp",
        "NoAuth",
        "SequenceStore",
        "ServiceTestKci",
        "SupplierNote",
        "parse_kci",
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
