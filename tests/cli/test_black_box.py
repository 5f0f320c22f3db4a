"""The ``fibrecafe`` console script as a black box: bad input of every command, never a traceback.

Every case runs the installed console script (a few run ``python -m fibrecafe_client.cli``) in a
fresh process and asserts the exit code, that stderr is exactly one line, and that no traceback
appears. The cases of a table run concurrently, once per module, so the subprocesses cost
wall time only once; each case is still its own test.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fibrecafe_client.cli import main
from fibrecafe_client.sandbox import Sandbox

pytestmark = pytest.mark.network

SCRIPT = shutil.which("fibrecafe", path=str(Path(sys.executable).parent))
CANARY = "canary-secret-0xC0FFEE"
CREATE = [
    *("service-tests", "create", "--service-id", "BBEU00537760", "--problem-type", "OUTAGE"),
    *("--spec", "FTTP", "--supplier", "FIBRECO", "--characteristic", "SERVICE_HAS_WORKED=false"),
]
FIXTURES = Path(__file__).parent.parent / "fixtures" / "kcis"
#: Long enough for a loaded 2-core machine; a command that hangs fails the test instead.
PROCESS_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Done:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIBRECAFE_")}
    env.update(extra or {})
    return env


def fibrecafe(
    *argv: str,
    env: Mapping[str, str] | None = None,
    module: bool = False,
    stdin: bytes | None = None,
) -> Done:
    assert SCRIPT is not None, "the fibrecafe console script is not installed"
    command = [sys.executable, "-m", "fibrecafe_client.cli"] if module else [SCRIPT]
    done = subprocess.run(  # noqa: S603 - our own console script
        [*command, *argv],
        capture_output=True,
        input=stdin,
        timeout=PROCESS_TIMEOUT,
        env=base_env() if env is None else env,
        check=False,
    )
    return Done(
        tuple(argv), done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode()
    )


def run_all(cases: Mapping[str, Sequence[str]], env: Mapping[str, str]) -> dict[str, Done]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fibrecafe, *argv, env=env) for name, argv in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def assert_one_clean_line(done: Done) -> None:
    assert "Traceback" not in done.out + done.err, done.err
    assert len(done.err_lines) == 1, done.err
    assert CANARY not in done.out + done.err


# -- usage errors: exit 2, one line, and not one request ------------------------------------

USAGE_CASES: dict[str, list[str]] = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "no action": ["service-tests"],
    "unknown option": ["token", "--bogus"],
    "demo unknown scenario": ["demo", "--scenario", "PURPLE"],
    "demo negative delay": ["demo", "--kci-delay", "-1"],
    "demo infinite delay": ["demo", "--kci-delay", "inf"],
    "token negative timeout": ["token", "--timeout", "-1"],
    "token zero timeout": ["token", "--timeout", "0"],
    "token bad environment": ["token", "--environment", "staging"],
    "token empty client id": ["token", "--client-id", ""],
    "token padded secret": ["token", "--client-secret", f" {CANARY}\n"],
    "get not a number": ["service-tests", "get", "abc"],
    "get zero": ["service-tests", "get", "0"],
    "get negative wait timeout": ["service-tests", "get", "1", "--wait", "--wait-timeout", "-1"],
    "create negative wait timeout": [*CREATE, "--wait", "--wait-timeout", "-1"],
    "create nan wait timeout": [*CREATE, "--wait", "--wait-timeout", "nan"],
    "create unknown scenario": [*CREATE, "--scenario", "PURPLE"],
    "create negative kci delay": [*CREATE, "--kci-delay", "-1"],
    "create unknown problem type": [*CREATE[:4], "--problem-type", "PURPLE", *CREATE[6:]],
    "create service id too long": [*CREATE[:2], "--service-id", "x" * 51, *CREATE[4:]],
    "create bad characteristic": [*CREATE, "--characteristic", "NO_EQUALS_SIGN"],
    "create reserved header": [*CREATE, "--header", f"Authorization:Bearer {CANARY}"],
    "create header without colon": [*CREATE, "--header", "NoColon"],
    "create bad conversation id": [*CREATE, "--conversation-id", "has space"],
    "create missing required": ["service-tests", "create", "--service-id", "X"],
    "kci negative max bytes": ["kci", "parse", "-", "--max-bytes", "-5"],
    "kci zero max bytes": ["kci", "parse", "-", "--max-bytes", "0"],
    "kci max bytes not a number": ["kci", "parse", "-", "--max-bytes", "lots"],
    "sandbox port too big": ["sandbox", "--port", "99999"],
    "sandbox negative port": ["sandbox", "--port", "-1"],
    "sandbox port not a number": ["sandbox", "--port", "http"],
    "sandbox public host": ["sandbox", "--host", "0.0.0.0"],
    "sandbox host name": ["sandbox", "--host", "example.com"],
    "sandbox public webhook": ["sandbox", "--webhook", "http://example.com/kcis"],
    "sandbox webhook with credentials": [
        "sandbox",
        "--webhook",
        f"http://gateway:{CANARY}@127.0.0.1:9000/kcis",
    ],
    "sandbox webhook not a url": ["sandbox", "--webhook", "ftp://127.0.0.1/kcis"],
    "sandbox basic without colon": ["sandbox", "--webhook-basic", CANARY],
    "sandbox basic and bearer": [
        "sandbox",
        "--webhook-basic",
        f"gateway:{CANARY}",
        "--webhook-bearer",
        CANARY,
    ],
    "sandbox zero token lifetime": ["sandbox", "--token-lifetime", "0"],
    "sandbox negative kci delay": ["sandbox", "--kci-delay", "-0.5"],
    "sandbox empty client secret": ["sandbox", "--client-secret", ""],
}
#: What the one line must say, for the cases where the wording matters.
USAGE_MESSAGES = {
    "demo unknown scenario": "unknown scenario 'PURPLE'",
    "create negative wait timeout": "argument --wait-timeout: must be a positive number",
    "get not a number": "must be a positive integer id, got 'abc'",
    "kci negative max bytes": "argument --max-bytes: must be a positive integer",
    "sandbox port too big": "must be a port from 0 to 65535",
    "sandbox public webhook": "must be a loopback URL",
    "sandbox basic and bearer": "not allowed with argument",
    "create service id too long": "service_id",
    "create reserved header": "Authorization cannot be set here",
}


#: The cases also run as real processes: the issue's own, and at least one per command.
BLACK_BOX_USAGE = [
    "no command",
    "unknown command",
    "demo unknown scenario",
    "demo negative delay",
    "token negative timeout",
    "token padded secret",
    "get not a number",
    "create negative wait timeout",
    "create unknown scenario",
    "create service id too long",
    "kci negative max bytes",
    "sandbox port too big",
    "sandbox public webhook",
    "sandbox basic and bearer",
]


@pytest.fixture(scope="module")
def quiet_sandbox() -> Iterator[Sandbox]:
    """A sandbox that every usage case points at: none of them may reach it."""
    with Sandbox.start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def usage_results(quiet_sandbox: Sandbox) -> dict[str, Done]:
    env = base_env(quiet_sandbox.environ())
    results = run_all({name: USAGE_CASES[name] for name in BLACK_BOX_USAGE}, env)
    results["python -m"] = fibrecafe("service-tests", "get", "abc", env=env, module=True)
    return results


def check_usage_error(case: str, code: int, out: str, err: str) -> None:
    assert code == 2, (code, err)
    assert_one_clean_line(Done((), code, out, err))
    assert ": error: " in err
    assert out == ""
    if case in USAGE_MESSAGES:
        assert USAGE_MESSAGES[case] in err


@pytest.mark.parametrize("case", [*BLACK_BOX_USAGE, "python -m"])
def test_a_wrong_command_line_exits_2_with_one_line(
    case: str, usage_results: dict[str, Done]
) -> None:
    done = usage_results[case]
    check_usage_error(case, done.code, done.out, done.err)


@pytest.mark.parametrize("case", USAGE_CASES)
def test_every_wrong_command_line_in_process(
    case: str,
    quiet_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole table through main() (the console script's entry point), without a process."""
    for name, value in quiet_sandbox.environ().items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    code = main(USAGE_CASES[case], out=out)
    captured = capsys.readouterr()
    check_usage_error(case, code, out.getvalue() + captured.out, captured.err)


def test_no_usage_error_sent_a_single_request(
    usage_results: dict[str, Done], quiet_sandbox: Sandbox
) -> None:
    """The issue's case: `create --wait --wait-timeout -1` created a test, then refused."""
    assert usage_results["create negative wait timeout"].code == 2
    stats = quiet_sandbox.stats
    assert stats.count() == 0, stats.requests
    assert stats.service_tests_created == 0


# -- failures: exit 1, one line -------------------------------------------------------------


@pytest.fixture(scope="module")
def live_sandbox() -> Iterator[Sandbox]:
    with Sandbox.start() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def failure_results(
    live_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Done]:
    folder = tmp_path_factory.mktemp("kcis")
    big = folder / "big.json"
    big.write_bytes((FIXTURES / "service-test-completed.json").read_bytes()[:800].ljust(800))
    assert big.stat().st_size == 800
    (folder / "not-json.json").write_bytes(b"{not json")
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        refused = f"http://127.0.0.1:{dead.getsockname()[1]}/v1"
        cases = {
            "kci file over the limit": ["kci", "parse", str(big), "--max-bytes", "100"],
            "kci missing file": ["kci", "parse", str(folder / "nope.json")],
            "kci not json": ["kci", "parse", str(folder / "not-json.json")],
            "kci a folder": ["kci", "parse", str(folder)],
            "token refused connection": ["token", "--base-url", refused],
            "token ftp base url": ["token", "--base-url", "ftp://127.0.0.1/v1"],
            "token wrong secret": ["token", "--client-secret", CANARY],
            "get unknown id": ["service-tests", "get", "999999"],
        }
        results = run_all(cases, base_env(live_sandbox.environ()))
    results["token without credentials"] = fibrecafe("token", env=base_env())
    results["token leftover token url beside environment"] = fibrecafe(
        "token",
        env=base_env(
            {
                "FIBRECAFE_CLIENT_ID": "x",
                "FIBRECAFE_CLIENT_SECRET": CANARY,
                "FIBRECAFE_ENVIRONMENT": "prod",
                "FIBRECAFE_TOKEN_URL": live_sandbox.token_url,
            }
        ),
    )
    results["kci stdin over the limit"] = fibrecafe(
        "kci", "parse", "-", "--max-bytes", "100", stdin=b"{" + b" " * 799, env=base_env()
    )
    return results


FAILURE_MESSAGES = {
    "kci file over the limit": "the body is 800 bytes, over the 100-byte limit",
    "kci stdin over the limit": "the body is more than 100 bytes, over the 100-byte limit",
    "kci missing file": "cannot read",
    "kci not json": "invalid KCI",
    "kci a folder": "cannot read",
    "token refused connection": "error: ",
    "token ftp base url": "base_url must be an absolute http(s) URL",
    "token wrong secret": "invalid_client",
    "get unknown id": "404 NOT_FOUND",
    "token without credentials": "missing client_id",
    "token leftover token url beside environment": "FIBRECAFE_TOKEN_URL is set beside",
}


@pytest.mark.parametrize("case", FAILURE_MESSAGES)
def test_a_failure_exits_1_with_one_line(case: str, failure_results: dict[str, Done]) -> None:
    done = failure_results[case]
    assert done.code == 1, done
    assert_one_clean_line(done)
    assert done.err.startswith("error: ")
    assert FAILURE_MESSAGES[case] in done.err


def test_the_leftover_token_url_got_no_credentials(
    failure_results: dict[str, Done], live_sandbox: Sandbox
) -> None:
    assert failure_results["token leftover token url beside environment"].code == 1
    # Only "token wrong secret" (refused) and "get unknown id" (granted) asked for a token:
    # the leftover token URL was refused before any request.
    route = "/v1/auth/tenant/access-token"
    assert live_sandbox.stats.count("POST", route, 200) == 1
    assert live_sandbox.stats.count("POST", route) == 2


def test_a_taken_port_is_one_line_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = fibrecafe("sandbox", "--port", str(port))
    assert done.code == 1, done
    assert_one_clean_line(done)
    assert done.err == f"error: cannot start the sandbox: cannot listen on 127.0.0.1:{port}: " + (
        "Address already in use\n"
    )


def test_a_huge_token_lifetime_never_prints_a_traceback(live_sandbox: Sandbox) -> None:
    """`fibrecafe token` with expires_in 1.7e12 printed an OverflowError traceback.

    The library may accept the lifetime (exit 0) or refuse it as a typed error (exit 1); the
    command must never let an exception escape either way.
    """
    live_sandbox.faults.token_expires_in = 1_731_000_000_000.0
    try:
        done = fibrecafe("token", env=base_env(live_sandbox.environ()))
    finally:
        live_sandbox.faults.token_expires_in = None
    assert done.code in (0, 1), done
    assert "Traceback" not in done.out + done.err
    assert len(done.err_lines) == (0 if done.code == 0 else 1), done.err


# -- the sandbox extra missing ----------------------------------------------------------------


@pytest.fixture(scope="module")
def without_uvicorn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose Python cannot import uvicorn (a sitecustomize blocks it)."""
    folder = tmp_path_factory.mktemp("no-uvicorn")
    (folder / "sitecustomize.py").write_text(
        "import sys\nsys.modules['uvicorn'] = None  # import uvicorn raises ImportError\n"
    )
    return base_env({"PYTHONPATH": str(folder)})


@pytest.mark.parametrize("argv", [["demo"], ["sandbox", "--port", "0"]])
def test_demo_and_sandbox_without_the_extra_name_it_in_one_line(
    argv: list[str], without_uvicorn: dict[str, str]
) -> None:
    done = fibrecafe(*argv, env=without_uvicorn)
    assert done.code == 1, done
    assert_one_clean_line(done)
    assert "pip install 'fibrecafe-client[sandbox]'" in done.err
    assert done.err.startswith(f"error: fibrecafe {argv[0]} needs the sandbox extra")


def test_the_blocker_really_hides_uvicorn(without_uvicorn: dict[str, str]) -> None:
    """Proves the fixture: without it, the test above would pass for the wrong reason."""
    probe = subprocess.run(
        [sys.executable, "-c", "import uvicorn"],
        capture_output=True,
        text=True,
        env=without_uvicorn,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert probe.returncode == 1
    assert "ImportError" in probe.stderr or "ModuleNotFoundError" in probe.stderr


# -- success stays quiet ----------------------------------------------------------------------


def test_version_and_help_exit_0_with_nothing_on_stderr() -> None:
    for argv in (["--version"], ["--help"]):
        done = fibrecafe(*argv)
        assert done.code == 0, done
        assert done.err == ""
        assert done.out
