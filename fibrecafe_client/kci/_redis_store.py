"""``RedisKciStore``: the receiver's de-duplication and sequence stores on Redis, shared by
every worker and replica (the ``redis`` extra).

Every decision is one Lua script, so it is atomic across processes and costs one round trip:
claim (set if absent, owner token inside), renew / commit / release (compare-and-set on the
owner token), advance (set if higher, return the previous). Each script is idempotent for its
arguments (the claim carries its token), so redis-py's single retry after a dropped connection
cannot turn one claim into two. The sync client serves the WSGI path; the asyncio client serves
the ASGI path (one per event loop), so the loop never waits on a socket.

Keys (all under ``prefix``, all with a TTL): ``<prefix>c:<kci key>`` holds ``c:<token>`` while
claimed (TTL: the lease) and ``d`` once handled (TTL: ``ttl``); ``<prefix>s:<entity>`` holds
the highest sequence number seen (TTL: ``ttl``, refreshed on every KCI of the entity).
This module imports redis only when a store is built; without the extra, building one raises
:class:`~fibrecafe_client.ConfigurationError` naming it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from fibrecafe_client.errors import ConfigurationError, KciStoreError

from ._store import KciClaim, KciClaimResult, new_claim_token

if TYPE_CHECKING:
    import asyncio

    import redis
    import redis.asyncio

__all__ = ["REDIS_INSTALL_HINT", "RedisKciStore"]

REDIS_INSTALL_HINT: Final = "pip install 'fibrecafe-client[redis]'"
_DAY: Final = 86_400.0
_SCHEMES: Final = frozenset({"redis", "rediss", "unix"})

_CLAIM: Final = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'c:' .. ARGV[1], 'PX', ARGV[2])
  return 'claimed'
end
if v == 'd' then return 'done' end
if v == 'c:' .. ARGV[1] then return 'claimed' end
return 'in_flight'
"""
_RENEW: Final = """
if redis.call('GET', KEYS[1]) == 'c:' .. ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_COMMIT: Final = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == 'd' or v == 'c:' .. ARGV[1] then
  redis.call('SET', KEYS[1], 'd', 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == 'c:' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
_ADVANCE: Final = """
local v = redis.call('GET', KEYS[1])
if (not v) or tonumber(ARGV[1]) > tonumber(v) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
"""
_SCRIPTS: Final = {
    "claim": _CLAIM,
    "renew": _RENEW,
    "commit": _COMMIT,
    "release": _RELEASE,
    "advance": _ADVANCE,
}
# Redis names a cached script by its SHA-1 (EVALSHA); not a security use.
_SHAS: Final = {
    name: hashlib.sha1(src.encode(), usedforsecurity=False).hexdigest()
    for name, src in _SCRIPTS.items()
}
_STATES: Final = {state.value: state for state in KciClaim}


def redact_redis_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***`` (safe to log)."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return parts._replace(netloc=netloc).geturl()


class RedisKciStore:
    """A :class:`KciStore`, :class:`AsyncKciStore`, :class:`SequenceStore` and
    :class:`AsyncSequenceStore` on Redis, for receivers on several workers and replicas.

    Give a URL (``redis://host:6379/0``, ``rediss://`` for TLS, ``unix:///path.sock``; a
    password in the URL is never logged or shown) or your own redis-py clients. Usually built
    for you: ``KciReceiver(verifier=..., store="redis://...")``.

    Args:
        url: where Redis is. Required unless ``client`` (and, for the ASGI path,
            ``async_client``) are given.
        client: a ``redis.Redis`` for the sync path (used as is, never closed by the store).
        async_client: a ``redis.asyncio.Redis`` for the ASGI path (used from one event loop).
        prefix: the start of every key, so that several receivers and environments share one
            Redis (``"fibrecafe:kci:"``).
        ttl: seconds a handled KCI and an entity's sequence number are remembered (one day by
            default; the gateway does not document how long it may redeliver).
        timeout: seconds to connect and to wait for each answer; a slower Redis is a failure
            (the receiver answers 503 and the gateway redelivers).

    Raises:
        ConfigurationError: the ``redis`` extra is not installed, or the URL is not a Redis URL.
        KciStoreError: (from each operation) Redis refused, failed or did not answer in time.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: Any = None,  # a redis.asyncio.Redis (unknown to type checkers of the wheel)
        prefix: str = "fibrecafe:kci:",
        ttl: float = _DAY,
        timeout: float = 2.0,
    ) -> None:
        try:
            import redis as redis_module  # noqa: PLC0415 - the optional extra
            from redis.exceptions import NoScriptError, RedisError  # noqa: PLC0415
        except ImportError:
            raise ConfigurationError(
                f"the Redis KCI store needs the redis extra: {REDIS_INSTALL_HINT}"
            ) from None
        if url is None and client is None and async_client is None:
            raise ConfigurationError("RedisKciStore needs a url or a client")
        if url is not None:
            scheme = urlsplit(url).scheme.lower()
            if scheme not in _SCHEMES:
                raise ConfigurationError(
                    f"the KCI store URL must start with redis://, rediss:// or unix:// "
                    f"(got {scheme or 'no scheme'}://)"
                )
        if ttl <= 0 or timeout <= 0:
            raise ConfigurationError("ttl and timeout must be positive")
        self._redis = redis_module
        self._no_script: type[Exception] = NoScriptError
        self._errors: tuple[type[Exception], ...] = (RedisError, OSError)
        self._url = url
        self._shown = redact_redis_url(url) if url is not None else "<client>"
        self.prefix = prefix
        self._ttl_ms = max(1, round(ttl * 1000))
        self._timeout = timeout
        self._client = client
        self._client_pid = os.getpid()
        self._fixed_async: redis.asyncio.Redis | None = async_client
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisKciStore({self._shown!r}, prefix={self.prefix!r})"

    @property
    def url(self) -> str:
        """Where Redis is, with any credentials replaced by ``***``."""
        return self._shown

    def claim_key(self, key: str) -> str:
        """The Redis key holding the claim on ``key``."""
        return f"{self.prefix}c:{key}"

    def sequence_key(self, key: str) -> str:
        """The Redis key holding the highest sequence number of entity ``key``."""
        return f"{self.prefix}s:{key}"

    # -- sync -------------------------------------------------------------------------------

    def claim(self, key: str, lease: float) -> KciClaimResult:
        """Take ``key`` for ``lease`` seconds unless it is handled or held."""
        token = new_claim_token()
        answer = self._run("claim", self.claim_key(key), token, _ms(lease))
        return _claim_result(answer, token)

    def renew(self, key: str, token: str, lease: float) -> bool:
        """Extend the claim held with ``token``."""
        return bool(self._run("renew", self.claim_key(key), token, _ms(lease)))

    def commit(self, key: str, token: str) -> bool:
        """Record ``key`` as handled, unless another owner holds it."""
        return bool(self._run("commit", self.claim_key(key), token, self._ttl_ms))

    def release(self, key: str, token: str) -> bool:
        """Drop the claim held with ``token``."""
        return bool(self._run("release", self.claim_key(key), token, 0))

    def advance(self, key: str, sequence_number: int) -> int | None:
        """Record ``sequence_number`` if higher; return the previous highest."""
        answer = self._run("advance", self.sequence_key(key), sequence_number, self._ttl_ms)
        return None if answer is None else int(answer)

    def close(self) -> None:
        """Close the sync connection pool this store opened (not a client you passed)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._url is not None:
            client.close()

    # -- async ------------------------------------------------------------------------------

    async def claim_async(self, key: str, lease: float) -> KciClaimResult:
        """:meth:`claim` on the asyncio client of the running event loop."""
        token = new_claim_token()
        answer = await self._run_async("claim", self.claim_key(key), token, _ms(lease))
        return _claim_result(answer, token)

    async def renew_async(self, key: str, token: str, lease: float) -> bool:
        """:meth:`renew` on the asyncio client of the running event loop."""
        return bool(await self._run_async("renew", self.claim_key(key), token, _ms(lease)))

    async def commit_async(self, key: str, token: str) -> bool:
        """:meth:`commit` on the asyncio client of the running event loop."""
        return bool(await self._run_async("commit", self.claim_key(key), token, self._ttl_ms))

    async def release_async(self, key: str, token: str) -> bool:
        """:meth:`release` on the asyncio client of the running event loop."""
        return bool(await self._run_async("release", self.claim_key(key), token, 0))

    async def advance_async(self, key: str, sequence_number: int) -> int | None:
        """:meth:`advance` on the asyncio client of the running event loop."""
        answer = await self._run_async(
            "advance", self.sequence_key(key), sequence_number, self._ttl_ms
        )
        return None if answer is None else int(answer)

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop, if this store opened it."""
        import asyncio  # noqa: PLC0415 - async paths only

        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # -- plumbing -----------------------------------------------------------------------------

    def _run(self, name: str, key: str, *args: object) -> Any:
        # EVALSHA: one short round trip; the first call on a Redis without the script (new,
        # restarted, flushed) falls back to EVAL, which also caches it there.
        try:
            client = self._sync_client()
            try:
                return client.evalsha(_SHAS[name], 1, key, *args)  # type: ignore[arg-type]
            except self._no_script:
                return client.eval(_SCRIPTS[name], 1, key, *args)  # type: ignore[arg-type]
        except self._errors as exc:
            raise self._failure(name, exc) from None

    async def _run_async(self, name: str, key: str, *args: object) -> Any:
        try:
            client = self._async_client()
            try:
                pending: Awaitable[Any] = client.evalsha(_SHAS[name], 1, key, *args)  # type: ignore[arg-type]
                return await pending
            except self._no_script:
                pending = client.eval(_SCRIPTS[name], 1, key, *args)  # type: ignore[arg-type]
                return await pending
        except self._errors as exc:
            raise self._failure(name, exc) from None

    def _failure(self, name: str, exc: BaseException) -> KciStoreError:
        return KciStoreError(f"Redis KCI store {self._shown}: {name} failed ({type(exc).__name__})")

    def _options(self) -> dict[str, Any]:
        from redis.backoff import NoBackoff  # noqa: PLC0415 - the optional extra
        from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        # One retry, at once, of a dropped connection only: it recovers a pooled connection
        # Redis closed (a restart) without the default ten retries with backoff, and a Redis
        # that does not answer within ``timeout`` fails then (not after two timeouts). Every
        # script is idempotent for its arguments, so the retry is safe.
        return {
            "socket_timeout": self._timeout,
            "socket_connect_timeout": self._timeout,
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        }

    def _sync_client(self) -> redis.Redis:
        with self._lock:
            if self._client is not None and (self._url is None or self._client_pid == os.getpid()):
                return self._client
            if self._url is None:
                raise ConfigurationError("this RedisKciStore has no sync client (give client=)")
            # A fresh pool per process: connections are never shared across os.fork().
            self._client = self._redis.Redis.from_url(self._url, **self._options())  # pyright: ignore[reportUnknownMemberType]
            self._client_pid = os.getpid()
            return self._client

    def _async_client(self) -> redis.asyncio.Redis:
        if self._fixed_async is not None:
            return self._fixed_async
        import asyncio  # noqa: PLC0415 - async paths only

        import redis.asyncio as redis_asyncio  # noqa: PLC0415 - the optional extra

        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            if self._url is None:
                raise ConfigurationError(
                    "this RedisKciStore has no asyncio client (give async_client=)"
                )
            # asyncio connections belong to the loop that opened them: one client per loop.
            client = redis_asyncio.Redis.from_url(self._url, **self._async_options())  # pyright: ignore[reportUnknownMemberType]
            self._async_clients[loop] = client
        return client

    def _async_options(self) -> dict[str, Any]:
        from redis.asyncio.retry import Retry  # noqa: PLC0415 - the optional extra
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415

        options = self._options()
        options["retry"] = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        return options


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _claim_result(answer: object, token: str) -> KciClaimResult:
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    state = _STATES.get(text)
    if state is None:
        raise KciStoreError(f"Redis KCI store: unexpected claim answer {text[:40]!r}")
    return KciClaimResult(state, token if state is KciClaim.CLAIMED else "")
