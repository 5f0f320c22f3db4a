"""Benchmark 1: the cost of one ``create()`` / ``get()`` next to hand-written httpx and authlib.

All three clients talk to the same ``httpx.MockTransport`` returning the documented bodies, so
what is timed is the client-side work: building the request, auth, retries, parsing. The
hand-written code is the minimal correct one: bearer header, the two id headers, a status
check, ``response.json()``. authlib's ``OAuth2Client``/``AsyncOAuth2Client`` does the same call.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from fibrecafe_client import AsyncFibreCafe, FibreCafe, ServiceTest

from ._gateway import BASE_URL, CLIENT_ID, CLIENT_SECRET, CREATE_ARGS, TOKEN_URL, MockGateway
from ._gateway import create_body as _body
from ._harness import Samples, time_async, time_sync
from ._report import Figure

__all__ = ["run"]

NAME = "1. per-call overhead"
TARGET = 1.25


class BenchmarkError(AssertionError):
    """A client under test did not do the call correctly."""


def _authlib_clients() -> tuple[type[Any], type[Any]]:
    # authlib warns on every import of its httpx integration (it prefers the httpx2 fork);
    # the warning is forced to "always", so it is silenced by category before the import.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client

    return OAuth2Client, AsyncOAuth2Client


def _ids() -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4()), "X-Conversation-ID": str(uuid.uuid4())}


def _checked(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise BenchmarkError(f"unexpected status {response.status_code}")
    body: dict[str, Any] = response.json()
    return body


def _check_request(gateway: MockGateway, who: str) -> None:
    request = gateway.last
    if request is None:
        raise BenchmarkError(f"{who}: no request reached the gateway")
    if not gateway.last_authorization.startswith("Bearer tok-"):
        raise BenchmarkError(f"{who}: no bearer token")
    for name in ("x-request-id", "x-conversation-id"):
        uuid.UUID(request.headers[name])  # raises if missing or not a UUID


def _check_results(who: str, created: object, fetched: object) -> None:
    def fields(value: object) -> tuple[object, object]:
        if isinstance(value, ServiceTest):
            return value.id, str(value.status)
        if isinstance(value, dict):
            return value["id"], value["status"]
        raise BenchmarkError(f"{who}: unexpected result {type(value).__name__}")

    if fields(created) != (123, "IN_PROGRESS") or fields(fetched) != (123, "COMPLETED"):
        raise BenchmarkError(f"{who}: wrong results {fields(created)} {fields(fetched)}")


def _figures(samples: Samples, flavour: str) -> list[Figure]:
    figures = []
    for op in ("create", "get"):
        sdk, raw, alib = (samples.median_us(f"{who} {op}") for who in ("sdk", "raw", "authlib"))
        note = f"SDK {sdk:.0f} us, httpx {raw:.0f} us, authlib {alib:.0f} us per call"
        figures.append(
            Figure(
                NAME,
                f"{op}() {flavour}: SDK / hand-written httpx",
                samples.ratio(f"sdk {op}", f"raw {op}"),
                "x",
                "<=",
                TARGET,
                note,
            )
        )
        figures.append(
            Figure(
                NAME,
                f"{op}() {flavour}: SDK / authlib OAuth2Client",
                samples.ratio(f"sdk {op}", f"authlib {op}"),
                "x",
                "<",
                1.0,
            )
        )
    return figures


def _sync(rounds: int, number: int, warmup: int) -> list[Figure]:
    oauth2_client, _ = _authlib_clients()
    gateway = MockGateway()
    sdk = FibreCafe(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=BASE_URL,
        http_client=httpx.Client(transport=gateway.transport()),
    )
    raw = httpx.Client(transport=gateway.transport(), base_url=BASE_URL)
    token = raw.post(TOKEN_URL, auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    alib = oauth2_client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=TOKEN_URL,
        grant_type="client_credentials",
        base_url=BASE_URL,
        transport=gateway.transport(),
    )
    alib.fetch_token()

    def raw_create() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", **_ids()}
        response = raw.post("/service-tests", json=_body(**CREATE_ARGS), headers=headers)
        return _checked(response, 201)

    def raw_get() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", **_ids()}
        return _checked(raw.get("/service-tests/123", headers=headers), 200)

    def authlib_create() -> dict[str, Any]:
        response = alib.post("/service-tests", json=_body(**CREATE_ARGS), headers=_ids())
        return _checked(response, 201)

    def authlib_get() -> dict[str, Any]:
        return _checked(alib.get("/service-tests/123", headers=_ids()), 200)

    def sdk_create() -> ServiceTest:
        return sdk.service_tests.create(**CREATE_ARGS)

    def sdk_get() -> ServiceTest:
        return sdk.service_tests.get(123)

    cases: dict[str, Callable[[], object]] = {
        "raw create": raw_create,
        "sdk create": sdk_create,
        "authlib create": authlib_create,
        "raw get": raw_get,
        "sdk get": sdk_get,
        "authlib get": authlib_get,
    }
    for who, create, get in (
        ("httpx", raw_create, raw_get),
        ("SDK", sdk_create, sdk_get),
        ("authlib", authlib_create, authlib_get),
    ):
        _check_results(who, create(), get())
        _check_request(gateway, who)
    try:
        samples = time_sync(cases, rounds=rounds, number=number, warmup=warmup)
    finally:
        sdk.close()
        raw.close()
        alib.close()
    return _figures(samples, "sync")


async def _async(rounds: int, number: int, warmup: int) -> list[Figure]:
    _, async_oauth2_client = _authlib_clients()
    gateway = MockGateway()
    sdk = AsyncFibreCafe(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        base_url=BASE_URL,
        http_client=httpx.AsyncClient(transport=gateway.async_transport()),
    )
    raw = httpx.AsyncClient(transport=gateway.async_transport(), base_url=BASE_URL)
    token = (await raw.post(TOKEN_URL, auth=(CLIENT_ID, CLIENT_SECRET))).json()["access_token"]
    alib = async_oauth2_client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=TOKEN_URL,
        grant_type="client_credentials",
        base_url=BASE_URL,
        transport=gateway.async_transport(),
    )
    await alib.fetch_token()

    async def raw_create() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", **_ids()}
        response = await raw.post("/service-tests", json=_body(**CREATE_ARGS), headers=headers)
        return _checked(response, 201)

    async def raw_get() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", **_ids()}
        return _checked(await raw.get("/service-tests/123", headers=headers), 200)

    async def authlib_create() -> dict[str, Any]:
        response = await alib.post("/service-tests", json=_body(**CREATE_ARGS), headers=_ids())
        return _checked(response, 201)

    async def authlib_get() -> dict[str, Any]:
        return _checked(await alib.get("/service-tests/123", headers=_ids()), 200)

    async def sdk_create() -> ServiceTest:
        return await sdk.service_tests.create(**CREATE_ARGS)

    async def sdk_get() -> ServiceTest:
        return await sdk.service_tests.get(123)

    cases: dict[str, Callable[[], Awaitable[object]]] = {
        "raw create": raw_create,
        "sdk create": sdk_create,
        "authlib create": authlib_create,
        "raw get": raw_get,
        "sdk get": sdk_get,
        "authlib get": authlib_get,
    }
    for who, create, get in (
        ("httpx", raw_create, raw_get),
        ("SDK", sdk_create, sdk_get),
        ("authlib", authlib_create, authlib_get),
    ):
        _check_results(who, await create(), await get())
        _check_request(gateway, who)
    try:
        samples = await time_async(cases, rounds=rounds, number=number, warmup=warmup)
    finally:
        await sdk.aclose()
        await raw.aclose()
        await alib.aclose()
    return _figures(samples, "async")


def run(*, quick: bool) -> list[Figure]:
    """Time create/get through the SDK, hand-written httpx and authlib, sync and async."""
    rounds, number, warmup = (3, 30, 20) if quick else (15, 400, 300)
    figures = _sync(rounds, number, warmup)
    figures += asyncio.run(_async(rounds, number, warmup))
    return figures
