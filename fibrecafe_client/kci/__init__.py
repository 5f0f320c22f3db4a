"""KCIs ("Keep Customer Informed"): the updates the gateway POSTs to the tenant's ``/kcis``.

- :func:`parse_kci` turns a body into a typed event (:class:`ServiceTestKci`,
  :class:`ServiceProblemKci` or :class:`GenericKci`), or raises
  :class:`~fibrecafe_client.KciParseError`.
- :class:`KciReceiver` is a complete endpoint (authentication, de-duplication, stale detection,
  dispatch to handlers, the documented answers) with ASGI and WSGI adapters.

Importing this package does not import the JOSE/cryptography stack; :class:`JwtVerifier` loads
it when it is built.
"""

from ._asgi import KciAsgiApp
from ._auth import (
    DEFAULT_JWT_ALGORITHMS,
    BasicAuthVerifier,
    BearerTokenVerifier,
    JwtVerifier,
    KciVerifier,
    NoAuth,
)
from ._env import store_from_env, verifier_from_env
from ._http import HeadersInput, KciResponse, normalise_headers
from ._models import (
    GENERIC_TERMINAL_STATUSES,
    GenericKci,
    Kci,
    KciAction,
    KciDelivery,
    KciInformation,
    ServiceProblemKci,
    ServiceTestKci,
    SupplierNote,
)
from ._parse import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, ParseFailure, parse_kci, try_parse_kci
from ._receiver import KciEvent, KciOutcome, KciReceiver, StalePolicy
from ._redis_store import RedisKciStore
from ._store import (
    AsyncKciStore,
    AsyncSequenceStore,
    InMemoryKciStore,
    InMemorySequenceStore,
    KciClaim,
    KciClaimResult,
    KciStore,
    SequenceStore,
)
from ._wsgi import KciWsgiApp

__all__ = [
    "DEFAULT_JWT_ALGORITHMS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "GENERIC_TERMINAL_STATUSES",
    "AsyncKciStore",
    "AsyncSequenceStore",
    "BasicAuthVerifier",
    "BearerTokenVerifier",
    "GenericKci",
    "HeadersInput",
    "InMemoryKciStore",
    "InMemorySequenceStore",
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
    "KciReceiver",
    "KciResponse",
    "KciStore",
    "KciVerifier",
    "KciWsgiApp",
    "NoAuth",
    "ParseFailure",
    "RedisKciStore",
    "SequenceStore",
    "ServiceProblemKci",
    "ServiceTestKci",
    "StalePolicy",
    "SupplierNote",
    "normalise_headers",
    "parse_kci",
    "store_from_env",
    "try_parse_kci",
    "verifier_from_env",
]
