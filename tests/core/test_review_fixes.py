"""Regressions found by the end-of-session review: each failed before its fix."""

from __future__ import annotations

import base64
import traceback

import httpx
import pytest
import respx

from fibrecafe_client import (
    APIConnectionError,
    AsyncFibreCafe,
    BadRequestError,
    ConfigurationError,
    FibreCafe,
    RetryPolicy,
    TokenError,
)

from .helpers import BASE_URL, CANARY_SECRET, CLIENT_ID, TOKEN_URL, service_test_json, token_json

NO_RETRY = RetryPolicy(max_retries=0)


def chain(exc: BaseException) -> str:
    """Everything an error reporter walking __cause__/__context__ could show."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append(repr(seen))
        request = getattr(seen, "_request", None)
        if isinstance(request, httpx.Request):
            parts.append(repr(dict(request.headers)))
            parts.append(request.content.decode(errors="replace"))
        seen = seen.__cause__ or seen.__context__
    parts.extend(traceback.format_exception(exc))
    return "\n".join(parts)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_token_transport_failure_does_not_chain_the_credentials(method: str) -> None:
    encoded = base64.b64encode(f"{CLIENT_ID}:{CANARY_SECRET}".encode()).decode()
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(side_effect=httpx.ConnectError("refused"))
        client = FibreCafe(
            CLIENT_ID,
            CANARY_SECRET,
            base_url=BASE_URL,
            retry=NO_RETRY,
            token_auth_method=method,  # type: ignore[arg-type]
        )
        with client, pytest.raises(TokenError) as caught:
            client.service_tests.get(1)
    text = chain(caught.value)
    assert CANARY_SECRET not in text
    assert encoded not in text
    assert caught.value.__cause__ is None


def test_absurdly_nested_error_body_maps_to_the_status_class() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/auth/tenant/access-token").respond(200, json=token_json())
        router.get("/service-tests/1").respond(400, content=nested)
        with (
            FibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL) as client,
            pytest.raises(BadRequestError) as caught,
        ):
            client.service_tests.get(1)
    assert caught.value.status_code == 400
    assert len(str(caught.value)) < 2_000


def test_check_credentials_after_close_is_a_typed_error() -> None:
    client = FibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL)
    client.close()
    with pytest.raises(APIConnectionError, match="closed"):
        client.check_credentials()


async def test_async_check_credentials_after_close_is_a_typed_error() -> None:
    client = AsyncFibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL)
    await client.aclose()
    with pytest.raises(APIConnectionError, match="closed"):
        await client.check_credentials()


def test_check_credentials_with_a_closed_user_client_is_a_typed_error() -> None:
    http = httpx.Client()
    http.close()
    client = FibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL, http_client=http)
    with pytest.raises(APIConnectionError, match="closed"):
        client.check_credentials()


async def test_expires_in_zero_is_a_short_lifetime_not_a_token_per_caller() -> None:
    import asyncio

    with respx.mock(base_url=BASE_URL) as router:
        token = router.post("/auth/tenant/access-token").respond(200, json=token_json(expires_in=0))
        router.get("/service-tests/1").respond(
            200,
            json={
                "id": 1,
                "status": "IN_PROGRESS",
                "serviceId": "S",
                "problemType": "OUTAGE",
                "serviceSpecification": {"id": "FTTP"},
            },
        )
        async with AsyncFibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL) as client:
            await asyncio.gather(*(client.service_tests.get(1) for _ in range(5)))
            info = await client.check_credentials()
    assert token.call_count == 2  # one for the five calls, one for check_credentials
    assert info.expires_in > 0


@pytest.mark.parametrize(
    "expires_in",
    [1731000000000, "1e12", 1e308, 10**400, "1e999", float("inf")],
    ids=["ms-epoch", "str-1e12", "1e308", "400-digits", "str-inf", "inf"],
)
async def test_a_huge_expires_in_is_capped_and_the_token_shared(expires_in: object) -> None:
    """Issue 11.5: a huge lifetime raised a raw OverflowError, unshared (3 calls, 3 fetches)."""
    import asyncio
    import json

    from fibrecafe_client._auth import MAX_EXPIRY_TTL, parse_expires_in

    assert parse_expires_in(expires_in) == MAX_EXPIRY_TTL
    with respx.mock(base_url=BASE_URL) as router:
        body = json.dumps(token_json(expires_in=expires_in)).encode()  # 10**400 stays an int
        token = router.post("/auth/tenant/access-token").respond(
            200, content=body, headers={"content-type": "application/json"}
        )
        router.get("/service-tests/123").respond(200, json=service_test_json())
        async with AsyncFibreCafe(CLIENT_ID, CANARY_SECRET, base_url=BASE_URL) as client:
            await asyncio.gather(*(client.service_tests.get(123) for _ in range(3)))
            assert token.call_count == 1  # one token shared by the three calls
            info = await client.check_credentials()  # always fetches a fresh token
    assert 0 < info.expires_in <= MAX_EXPIRY_TTL


@pytest.mark.parametrize("cls", [FibreCafe, AsyncFibreCafe])
def test_repr_of_a_half_built_client_does_not_raise(cls: type[FibreCafe | AsyncFibreCafe]) -> None:
    """Issue 11.10: traceback tools printing locals (capture_locals=True) crashed on it."""
    half = cls.__new__(cls)
    assert repr(half) == f"{cls.__name__}(<not configured>)"
    with pytest.raises(ConfigurationError) as info:
        cls(CLIENT_ID, CANARY_SECRET, base_url="ftp://nowhere")
    summary = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    assert "".join(summary.format())  # formatting the locals of every frame succeeds
