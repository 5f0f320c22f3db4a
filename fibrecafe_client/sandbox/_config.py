"""The sandbox's settings and the tenant webhooks it delivers KCIs to."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx

__all__ = [
    "CVT_KCI_DELAY",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_KCI_DELAY",
    "DEFAULT_SCOPE",
    "FANOUT_MODES",
    "FanoutMode",
    "SandboxConfig",
    "Webhook",
    "WebhookInput",
    "check_duplicates",
    "check_fanout",
    "check_seconds",
    "normalise_webhooks",
]

#: Seconds between the lifecycle steps of a service test unless ``X-Kci-Delay`` says otherwise.
#: Small, so local runs and tests are quick (CVT's own default is ``CVT_KCI_DELAY``).
DEFAULT_KCI_DELAY: Final = 0.2
#: The default ``X-Kci-Delay`` of Fibre Cafe's CVT stubs, for reference.
CVT_KCI_DELAY: Final = 30.0
#: Credentials the sandbox accepts unless configured otherwise. They guard nothing: the
#: sandbox only listens on loopback and holds only fake data.
DEFAULT_CLIENT_ID: Final = "sandbox-client"
#: The client secret the sandbox accepts unless configured otherwise (see above).
DEFAULT_CLIENT_SECRET: Final = "sandbox-secret"  # noqa: S105 - a published dev credential
#: The scope the sandbox grants, shaped like the gateway's ``com.fibregateway.<env>/...``.
DEFAULT_SCOPE: Final = "com.fibregateway.sandbox/tenant.all.all"


#: How KCIs are spread over several webhooks: ``"all"`` sends every KCI to every webhook (each is
#: a separate tenant endpoint); ``"round_robin"`` treats the webhooks as the replicas behind one
#: load balancer: each delivery attempt (and each duplicate copy) goes to the next one in turn, so
#: a redelivery usually reaches another replica.
FANOUT_MODES: Final = ("all", "round_robin")
#: A fan-out mode (see :data:`FANOUT_MODES`).
FanoutMode = Literal["all", "round_robin"]


def check_fanout(value: object) -> FanoutMode:
    """``value`` if it is a fan-out mode, else ValueError."""
    if value == "all":
        return "all"
    if value == "round_robin":
        return "round_robin"
    raise ValueError(f"kci_fanout must be one of {list(FANOUT_MODES)}, got {value!r}")


def check_duplicates(value: object) -> int:
    """``value`` if it is a copy count from 1 to 100, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValueError("kci_duplicates must be an integer from 1 to 100")
    return value


@dataclass(frozen=True, slots=True)
class Webhook:
    """A tenant KCI endpoint the sandbox POSTs every service-test KCI to.

    The sandbox authenticates to it like the gateway would: with HTTP Basic (``username`` and
    ``password``), with a static ``bearer_token``, or not at all. Secrets never appear in the repr.
    """

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            parsed = httpx.URL(self.url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValueError(f"webhook url is not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("webhook url must be an absolute http:// or https:// URL")
        if parsed.userinfo:
            raise ValueError("put webhook credentials in username/password, not in the url")
        if (self.username is None) != (self.password is None):
            raise ValueError("webhook Basic auth needs both username and password")
        if self.username is not None and self.bearer_token is not None:
            raise ValueError("a webhook uses Basic auth or a bearer token, not both")
        if self.username is not None and ":" in self.username:
            raise ValueError("a Basic auth username cannot contain ':'")

    @property
    def auth_kind(self) -> Literal["basic", "bearer", "none"]:
        """How the sandbox authenticates to this webhook."""
        if self.username is not None:
            return "basic"
        return "bearer" if self.bearer_token is not None else "none"

    def authorization(self) -> str | None:
        """The ``Authorization`` header value for a delivery, or None."""
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        if self.bearer_token is not None:
            return f"Bearer {self.bearer_token}"
        return None

    def describe(self) -> dict[str, str]:
        """A secret-free description (for the admin API and logs)."""
        return {"url": self.url, "auth": self.auth_kind}


#: A webhook given as a :class:`Webhook` or as a bare URL (no authentication).
WebhookInput = Webhook | str


def normalise_webhooks(webhooks: Iterable[WebhookInput]) -> tuple[Webhook, ...]:
    """Turn URLs and :class:`Webhook` objects into a tuple of :class:`Webhook`."""
    if isinstance(webhooks, str | Webhook):
        raise TypeError("webhooks must be a list of URLs or Webhook objects, not a single one")
    return tuple(w if isinstance(w, Webhook) else Webhook(w) for w in webhooks)


def check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    """ValueError unless ``value`` is a finite number of seconds (>= 0, or > 0 if positive)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}")


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything a sandbox is started with; the runtime fault knobs start from these values.

    - ``client_id``/``client_secret``: the one tenant app client the token endpoint accepts.
    - ``scopes``: the scopes that client may ask for (a request without ``scope`` gets them all).
    - ``token_lifetime``: seconds an access token stays valid (the gateway's is 3600).
    - ``kci_delay``: default seconds between lifecycle steps (``X-Kci-Delay`` overrides it per
      test, up to ``max_kci_delay``).
    - ``kci_max_attempts``, ``kci_retry_backoff``, ``kci_retry_max_backoff``, ``kci_timeout``:
      KCI redelivery. A delivery is retried until the webhook answers 2xx, at most
      ``kci_max_attempts`` times, waiting ``backoff * 2**(attempt-1)`` seconds (capped, and a
      numeric ``Retry-After`` from the webhook is honoured within the cap).
      ``kci_timeout`` bounds each attempt: a webhook slower than that has its attempt cut off
      and the KCI redelivered (while its handler may still be running, as with the gateway).
    - ``kci_fanout``: ``"all"`` (every webhook gets every KCI) or ``"round_robin"`` (the
      webhooks are replicas behind a load balancer: each attempt goes to the next one).
    - ``kci_duplicates``: copies of each KCI sent at the same time (1: no duplicates); each copy
      is redelivered on its own until accepted.
    - ``kci_reorder``: swap consecutive KCIs of one service test (2 before 1, 4 before 3...), so
      a receiver sees an older KCI after a newer one.
    - ``webhooks``: where KCIs go.

    The delivery settings (``kci_timeout``, ``kci_fanout``, ``kci_duplicates``,
    ``kci_reorder``) are also runtime knobs: ``sandbox.delivery`` and ``/_sandbox/delivery``.
    """

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    scopes: tuple[str, ...] = (DEFAULT_SCOPE,)
    token_lifetime: float = 3600.0
    kci_delay: float = DEFAULT_KCI_DELAY
    max_kci_delay: float = 3600.0
    kci_max_attempts: int = 5
    kci_retry_backoff: float = 0.5
    kci_retry_max_backoff: float = 10.0
    kci_timeout: float = 5.0
    kci_fanout: FanoutMode = "all"
    kci_duplicates: int = 1
    kci_reorder: bool = False
    webhooks: tuple[Webhook, ...] = ()

    def __post_init__(self) -> None:
        if not self.client_id or ":" in self.client_id:
            raise ValueError("client_id must be non-empty and cannot contain ':'")
        if not self.client_secret:
            raise ValueError("client_secret must be non-empty")
        if isinstance(self.scopes, str):
            raise TypeError("scopes must be a sequence of scope strings, not one string")
        if not self.scopes or any(not s or " " in s for s in self.scopes):
            raise ValueError("scopes must be non-empty strings without spaces")
        check_seconds("token_lifetime", self.token_lifetime, positive=True)
        check_seconds("kci_delay", self.kci_delay)
        check_seconds("max_kci_delay", self.max_kci_delay)
        if self.kci_delay > self.max_kci_delay:
            raise ValueError("kci_delay must not exceed max_kci_delay")
        if isinstance(self.kci_max_attempts, bool) or self.kci_max_attempts < 1:
            raise ValueError("kci_max_attempts must be >= 1")
        check_seconds("kci_retry_backoff", self.kci_retry_backoff)
        check_seconds("kci_retry_max_backoff", self.kci_retry_max_backoff)
        check_seconds("kci_timeout", self.kci_timeout, positive=True)
        check_fanout(self.kci_fanout)
        check_duplicates(self.kci_duplicates)
        if not isinstance(self.kci_reorder, bool):
            raise ValueError("kci_reorder must be True or False")
        object.__setattr__(self, "webhooks", normalise_webhooks(self.webhooks))
        object.__setattr__(self, "scopes", tuple(self.scopes))
