"""The control API under ``/_sandbox/``: steer a sandbox running in another process.

Everything here mirrors an in-process handle (``sandbox.faults``, ``sandbox.stats``,
``sandbox.reset()``...). Requests take and return JSON; mistakes get ``400 {"error": ...}``.
Admin requests are never faulted and never counted. There is no authentication: the sandbox
only listens on loopback.

========  ===============================  ==============================================
Method    Path                             Body / effect
========  ===============================  ==============================================
GET       /_sandbox/stats                  the counters (``SandboxStats.to_dict()``)
POST      /_sandbox/reset                  ``sandbox.reset()``
GET       /_sandbox/faults                 knob values and queued faults
POST      /_sandbox/faults                 ``{"api_latency": 0.5, "token_down": true, ...}``
POST      /_sandbox/faults/fail-next       ``{"count", "status", "retry_after"?, "target"?}``
POST      /_sandbox/faults/drop-next       ``{"count", "target"?}``
POST      /_sandbox/tokens/revoke          revoke every issued token
POST      /_sandbox/tokens/expire          expire every issued token now
GET       /_sandbox/delivery               delivery knobs (``DeliveryKnobs.describe()``)
POST      /_sandbox/delivery               ``{"fanout": "round_robin", "duplicates": 3,
                                           "reorder": true, "timeout": 1.0}`` (any subset)
GET       /_sandbox/webhooks               the webhooks (urls and auth kinds, no secrets)
POST      /_sandbox/webhooks               ``{"url", "username"?, "password"?, "bearer_token"?}``
GET       /_sandbox/service-tests/{id}     a test's current state, without auth
========  ===============================  ==============================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from ._asgi import Request, Response
from ._config import Webhook

if TYPE_CHECKING:
    from ._app import SandboxApp

__all__ = ["handle_admin"]

_Handler = Callable[["SandboxApp", dict[str, Any]], Awaitable[Response]]


class _BadInput(ValueError):
    pass


def _json_body(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        raise _BadInput("the body must be JSON") from None
    if not isinstance(data, dict):
        raise _BadInput("the body must be a JSON object")
    return cast("dict[str, Any]", data)


def _ok(data: Any = None) -> Response:
    return Response.json(200, {"ok": True} if data is None else data)


async def _stats(app: SandboxApp, _body: dict[str, Any]) -> Response:
    return _ok(app.stats.to_dict())


async def _reset(app: SandboxApp, _body: dict[str, Any]) -> Response:
    await app.areset()
    return _ok()


async def _faults_get(app: SandboxApp, _body: dict[str, Any]) -> Response:
    return _ok(app.faults.describe())


async def _faults_set(app: SandboxApp, body: dict[str, Any]) -> Response:
    app.faults.update(body)
    return _ok(app.faults.describe())


def _count(body: dict[str, Any]) -> int:
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int):
        raise _BadInput("count must be an integer")
    return count


async def _fail_next(app: SandboxApp, body: dict[str, Any]) -> Response:
    status = body.get("status", 503)
    if isinstance(status, bool) or not isinstance(status, int):
        raise _BadInput("status must be an integer")
    app.faults.fail_next(
        _count(body),
        status,
        retry_after=body.get("retry_after"),
        target=body.get("target", "api"),
    )
    return _ok(app.faults.describe())


async def _drop_next(app: SandboxApp, body: dict[str, Any]) -> Response:
    app.faults.drop_next(_count(body), target=body.get("target", "api"))
    return _ok(app.faults.describe())


async def _revoke(app: SandboxApp, _body: dict[str, Any]) -> Response:
    return _ok({"revoked": app.tokens.revoke_all()})


async def _expire(app: SandboxApp, _body: dict[str, Any]) -> Response:
    return _ok({"expired": app.tokens.expire_all()})


async def _delivery_get(app: SandboxApp, _body: dict[str, Any]) -> Response:
    return _ok(app.delivery.knobs.describe())


async def _delivery_set(app: SandboxApp, body: dict[str, Any]) -> Response:
    app.delivery.knobs.update(body)
    return _ok(app.delivery.knobs.describe())


async def _webhooks_get(app: SandboxApp, _body: dict[str, Any]) -> Response:
    return _ok({"webhooks": [w.describe() for w in app.delivery.webhooks]})


async def _webhooks_add(app: SandboxApp, body: dict[str, Any]) -> Response:
    known = {"url", "username", "password", "bearer_token"}
    if set(body) - known or "url" not in body:
        raise _BadInput(f"expected {sorted(known)} with at least url")
    if any(v is not None and not isinstance(v, str) for v in body.values()):
        raise _BadInput("webhook fields must be strings")
    hook = app.add_webhook(Webhook(**body))
    return _ok(hook.describe())


_ROUTES: dict[tuple[str, str], _Handler] = {
    ("GET", "stats"): _stats,
    ("POST", "reset"): _reset,
    ("GET", "faults"): _faults_get,
    ("POST", "faults"): _faults_set,
    ("POST", "faults/fail-next"): _fail_next,
    ("POST", "faults/drop-next"): _drop_next,
    ("POST", "tokens/revoke"): _revoke,
    ("POST", "tokens/expire"): _expire,
    ("GET", "delivery"): _delivery_get,
    ("POST", "delivery"): _delivery_set,
    ("GET", "webhooks"): _webhooks_get,
    ("POST", "webhooks"): _webhooks_add,
}


async def handle_admin(app: SandboxApp, request: Request) -> Response:
    """Answer one ``/_sandbox/...`` request."""
    action = request.path.removeprefix("/_sandbox").strip("/")
    if request.method == "GET" and action.startswith("service-tests/"):
        raw_id = action.removeprefix("service-tests/")
        found = app.store.get(int(raw_id)) if raw_id.isascii() and raw_id.isdigit() else None
        if found is None:
            return Response.json(404, {"error": f"no service test {raw_id}"})
        return _ok(found)
    handler = _ROUTES.get((request.method, action))
    if handler is None:
        paths = sorted({f"{m} /_sandbox/{a}" for m, a in _ROUTES})
        return Response.json(404, {"error": "unknown admin endpoint", "endpoints": paths})
    try:
        return await handler(app, _json_body(request))
    except (_BadInput, ValueError, TypeError) as exc:
        return Response.json(400, {"error": str(exc)})
