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

# --- core client (issue 2) ---
from ._client import AsyncFibreCafe, FibreCafe, TokenInfo
from ._retry import RetryPolicy
from .resources import AsyncServiceTests, ServiceTests

# --- end core client ---

# --- KCIs (issue 3) ---
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
)

# --- end KCIs ---

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "Characteristic",
    "ConfigurationError",
    "EntityType",
    "ErrorCode",
    "FibreCafeError",
    "GatewayError",
    "InformationType",
    "InternalServerError",
    "KciParseError",
    "NotFoundError",
    "OutcomeResult",
    "PermissionDeniedError",
    "ProblemType",
    "RateLimitError",
    "RequestValidationError",
    "ResponseValidationError",
    "ServiceSpecification",
    "ServiceTest",
    "ServiceTestCharacteristics",
    "ServiceTestMeasure",
    "ServiceTestOutcome",
    "ServiceTestResult",
    "ServiceTestStatus",
    "ServiceTestWaitTimeout",
    "ServiceUnavailableError",
    "TokenError",
    "UnprocessableEntityError",
    "UpdateType",
    "__version__",
    # core client names are appended below by the core block
    "AsyncFibreCafe",
    "AsyncServiceTests",
    "FibreCafe",
    "RetryPolicy",
    "ServiceTests",
    "TokenInfo",
    # KCI names are appended below by the KCI block
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
]
