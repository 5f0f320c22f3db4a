"""The aiohttp backend: its defaults, its error mapping, and what it must not do on its own.

The fault matrix (``test_faults.py``) and the concurrency suite run every case on both async
backends; this file covers what is specific to aiohttp: how each of its exceptions maps (the
mapping of httpx-aiohttp sends a reset after the request was read to "connect timeout", which
would resend a POST), the settings it is built with, the missing extra, and behaviours where
aiohttp's own defaults differ from httpx's (cookies, silent resends, redirects, header limits).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from typing import Any

import aiohttp
import httpx
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from fibrecafe_client import (
    APIConnectionError,
    APIStatusError,
    AsyncFibreCafe,
    ConfigurationError,
    ServiceTest,
    aiohttp_http_client,
)
from fibrecafe_client._aiohttp_transport import SdkAiohttpTransport, map_exception
from fibrecafe_client._config import DEFAULT_TIMEOUT

from .badserver import BadGateway, Behaviour, service_test_body
from .canaries import CANARY_SECRET, CLIENT_ID, assert_clean_exception
from .runner import run_bounded

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/service-tests")
CREATE_ARGS: dict[str, Any] = {
    "service_id": "BBEU00537760",
    "problem_type": "OUTAGE",
    "service_specification": "FTTP",
    "supplier": "FIBRECO",
    "characteristics": {"SERVICE_HAS_WORKED": "false"},
}


def _connector_error() -> aiohttp.ClientConnectorError:
    key: Any = type("Key", (), {"ssl": False, "host": "127.0.0.1", "port": 9})()
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))


def _response_error() -> aiohttp.ClientResponseError:
    info = aiohttp.RequestInfo(
        url=URL("http://127.0.0.1:9/"),
        method="GET",
        headers=CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer canary-TOKEN-in-aiohttp"})),
    )
    return aiohttp.ClientResponseError(info, (), status=400, message="Invalid header")


#: Each aiohttp failure and the httpx exception httpx's own pool raises for the same event.
MAPPING: list[tuple[BaseException, type[httpx.TransportError]]] = [
    (_connector_error(), httpx.ConnectError),  # refused: nothing was sent
    (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError("read"), httpx.ReadTimeout),  # httpx-aiohttp: ConnectTimeout
    (TimeoutError(), httpx.ReadTimeout),  # httpx-aiohttp: escaped unmapped
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),  # was ConnectTimeout
    (aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError),  # ditto
    (aiohttp.ClientPayloadError("cut short"), httpx.RemoteProtocolError),
    (_response_error(), httpx.RemoteProtocolError),  # httpx-aiohttp: escaped unmapped
    (aiohttp.ClientProxyConnectionError(_connector_error()._conn_key, OSError()), httpx.ProxyError),
    (aiohttp.NonHttpUrlClientError("ftp://x"), httpx.UnsupportedProtocol),
    (aiohttp.ClientError("anything else"), httpx.ReadError),
]


@pytest.mark.parametrize(
    ("raised", "expected"), MAPPING, ids=[type(e).__name__ for e, _ in MAPPING]
)
def test_each_aiohttp_failure_maps_to_what_httpx_would_raise(
    raised: BaseException, expected: type[httpx.TransportError]
) -> None:
    mapped = map_exception(raised, REQUEST)
    assert type(mapped) is expected
    assert mapped.request is REQUEST


def test_the_mapping_of_httpx_aiohttp_is_redone_from_the_aiohttp_exception() -> None:
    # httpx-aiohttp raises ConnectTimeout("...") from ServerDisconnectedError: a POST whose
    # request was read would be resent as if it had never left.
    try:
        raise httpx.ConnectTimeout("Server disconnected") from aiohttp.ServerDisconnectedError()
    except httpx.ConnectTimeout as theirs:
        mapped = map_exception(theirs, REQUEST)
    assert type(mapped) is httpx.RemoteProtocolError


def test_a_mapped_exception_does_not_chain_aiohttps_which_holds_the_headers() -> None:
    raised = _response_error()
    assert "canary-TOKEN-in-aiohttp" in repr(raised)  # why it is not chained
    mapped = map_exception(raised, REQUEST)
    assert mapped.__cause__ is None
    assert mapped.__context__ is None
    assert "canary" not in str(mapped)


def test_the_factory_applies_the_sdks_defaults() -> None:
    client = aiohttp_http_client()
    assert client.timeout == DEFAULT_TIMEOUT
    assert client.follow_redirects is False
    transport = client._transport  # pyright: ignore[reportPrivateUsage]
    assert isinstance(transport, SdkAiohttpTransport)
    assert transport.ssl_context.verify_mode is ssl.CERT_REQUIRED
    assert transport.ssl_context.check_hostname


async def test_the_session_has_the_sdks_pool_settings() -> None:
    limits = httpx.Limits(max_connections=7, keepalive_expiry=3.0)
    transport = aiohttp_http_client(limits=limits)._transport  # pyright: ignore[reportPrivateUsage]
    assert isinstance(transport, SdkAiohttpTransport)
    session = transport._new_session()  # pyright: ignore[reportPrivateUsage]
    try:
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector.limit == 7
        assert connector._keepalive_timeout == 3.0  # pyright: ignore[reportPrivateUsage]
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert session._retry_connection is False  # pyright: ignore[reportPrivateUsage]
    finally:
        await session.close()
    unlimited = aiohttp_http_client(limits=httpx.Limits(max_connections=None))
    unlimited_transport = unlimited._transport  # pyright: ignore[reportPrivateUsage]
    assert isinstance(unlimited_transport, SdkAiohttpTransport)
    session = unlimited_transport._new_session()  # pyright: ignore[reportPrivateUsage]
    try:
        assert session.connector is not None
        assert session.connector.limit == 0  # aiohttp's "no limit"; its default would be 100
    finally:
        await session.close()


def test_proxies_from_the_environment_also_go_through_aiohttp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = aiohttp_http_client()
    mounted = [t for t in client._mounts.values() if t is not None]  # pyright: ignore[reportPrivateUsage]
    assert mounted
    assert all(isinstance(t, SdkAiohttpTransport) and t.proxy is not None for t in mounted)
    assert not aiohttp_http_client(trust_env=False)._mounts  # pyright: ignore[reportPrivateUsage]


def test_the_client_keyword_builds_an_aiohttp_pool_with_its_timeout() -> None:
    client = AsyncFibreCafe(
        "id", "secret", base_url="https://gw.test/v1", timeout=7.0, http_backend="aiohttp"
    )
    pool = client._pool.get()  # pyright: ignore[reportPrivateUsage]
    assert isinstance(pool._transport, SdkAiohttpTransport)  # pyright: ignore[reportPrivateUsage]
    assert pool.timeout == httpx.Timeout(7.0)
    assert pool.follow_redirects is False


async def test_misuse_of_the_keyword_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="http_backend must be"):
        AsyncFibreCafe("id", "secret", environment="cvt", http_backend="curl")  # type: ignore[arg-type]
    async with httpx.AsyncClient() as mine:
        with pytest.raises(ConfigurationError, match="not both"):
            AsyncFibreCafe(
                "id", "secret", environment="cvt", http_client=mine, http_backend="aiohttp"
            )


def test_without_the_extra_one_clear_line_names_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['httpx_aiohttp'] = None\n"
        "from fibrecafe_client import AsyncFibreCafe, ConfigurationError, aiohttp_http_client\n"
        "def keyword():\n"
        "    AsyncFibreCafe('i', 's', environment='cvt', http_backend='aiohttp')\n"
        "for make in (aiohttp_http_client, keyword):\n"
        "    try:\n"
        "        make()\n"
        "    except ConfigurationError as exc:\n"
        "        assert exc.__cause__ is None and exc.__suppress_context__\n"
        "        print(exc)\n"
    )
    result = subprocess.run(  # noqa: S603 - a fixed command: this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install 'fibrecafe-client[aiohttp]'" in line for line in lines)


def test_importing_the_sdk_does_not_import_aiohttp() -> None:
    code = (
        "import sys, fibrecafe_client\n"
        "from fibrecafe_client import AsyncFibreCafe, aiohttp_http_client\n"
        "AsyncFibreCafe('i', 's', environment='cvt')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'httpx_aiohttp')"
        " or m == 'fibrecafe_client._aiohttp_transport'))"
    )
    result = subprocess.run(  # noqa: S603 - a fixed command: this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# -- on real sockets, both backends --------------------------------------------------------


def _kwargs(bad: BadGateway) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CANARY_SECRET,
        "base_url": bad.base_url,
        "token_url": bad.token_url,
        "timeout": httpx.Timeout(5.0),
    }


def _get_twice(test_id: int) -> Any:
    async def call(client: AsyncFibreCafe) -> list[ServiceTest]:
        return [await client.service_tests.get(test_id), await client.service_tests.get(test_id)]

    return call


@pytest.mark.network
@pytest.mark.parametrize("kind", ["async", "aiohttp"])
def test_cookies_set_by_the_gateway_are_never_sent_back(bad: BadGateway, kind: Any) -> None:
    body = httpx.Response(200, json=service_test_body(5)).content
    cookie = Behaviour(
        "cookie",
        body=body,
        headers=(("content-type", "application/json"), ("set-cookie", "lb=node-7; Path=/")),
    )
    bad.script("api", cookie)
    outcome = run_bounded(kind, _kwargs(bad), lambda c: None, _get_twice(5), limit=20, what="get")
    assert outcome.error is None, repr(outcome.error)
    api = [r for r in bad.records if r.listener == "api"]
    assert len(api) == 2
    assert all("cookie" not in {k.lower() for k in r.headers} for r in api)


@pytest.mark.network
@pytest.mark.parametrize("kind", ["async", "aiohttp"])
def test_a_redirect_is_an_error_and_is_not_followed(bad: BadGateway, kind: Any) -> None:
    bad.script("api", Behaviour("302", status=302, headers=(("location", "/v1/elsewhere"),)))

    async def call(client: AsyncFibreCafe) -> ServiceTest:
        return await client.service_tests.create(**CREATE_ARGS)

    outcome = run_bounded(kind, _kwargs(bad), lambda c: None, call, limit=20, what="create")
    assert isinstance(outcome.error, APIStatusError)
    assert outcome.error.status_code == 302
    assert bad.seen("api") == 1


@pytest.mark.network
@pytest.mark.parametrize("kind", ["async", "aiohttp"])
@pytest.mark.parametrize("op", ["create", "get"])
def test_an_oversized_response_header_is_a_typed_error_without_the_token(
    bad: BadGateway, kind: Any, op: str
) -> None:
    # httpcore refuses a response head over ~100 KiB (h11), and aiohttp is set to 100 KiB.
    huge = Behaviour("huge header", headers=(("x-huge", "h" * 1_000_000),), processes=True)
    bad.script("api", huge, times=3)

    async def call(client: AsyncFibreCafe) -> ServiceTest:
        if op == "create":
            return await client.service_tests.create(**CREATE_ARGS)
        return await client.service_tests.get(5)

    outcome = run_bounded(kind, _kwargs(bad), lambda c: None, call, limit=20, what=op)
    error = outcome.error
    assert type(error) is APIConnectionError, repr(error)
    assert error.outcome_unknown is (op == "create")  # the request was read: never resent
    assert error.attempts == (1 if op == "create" else 3)
    assert bad.created <= 1
    assert_clean_exception(error)
    chain: BaseException | None = error
    while chain is not None:  # nothing below the SDK's error holds the bearer token either
        assert "canary-TOKEN" not in repr(chain)
        assert not isinstance(chain, aiohttp.ClientError)
        chain = chain.__cause__ or chain.__context__


@pytest.mark.network
@pytest.mark.parametrize("kind", ["async", "aiohttp"])
def test_a_large_head_that_httpx_accepts_is_accepted_on_aiohttp_too(
    bad: BadGateway, kind: Any
) -> None:
    # aiohttp's own limits (8190 bytes a field, 128 fields) would refuse this answer.
    headers = (
        ("content-type", "application/json"),
        ("x-big", "b" * 50_000),
        *((f"x-h{n}", "v") for n in range(300)),
    )
    body = httpx.Response(200, json=service_test_body(5)).content
    bad.script("api", Behaviour("big head", body=body, headers=headers))

    async def call(client: AsyncFibreCafe) -> ServiceTest:
        return await client.service_tests.get(5)

    outcome = run_bounded(kind, _kwargs(bad), lambda c: None, call, limit=20, what="get")
    assert outcome.error is None, repr(outcome.error)
    assert outcome.result.id == 5
    assert outcome.result.http_response.headers["x-big"] == "b" * 50_000
