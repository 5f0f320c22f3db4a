"""The fibrecafe command, run in-process against a real sandbox on 127.0.0.1."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fibrecafe_client import cli
from fibrecafe_client.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WAIT_TIMEOUT, main
from fibrecafe_client.sandbox import Sandbox, Scenario

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kcis"
CREATE = [
    "service-tests",
    "create",
    "--service-id",
    "BBEU00537760",
    "--problem-type",
    "OUTAGE",
    "--spec",
    "FTTP",
    "--supplier",
    "FIBRECO",
    "--characteristic",
    "SERVICE_HAS_WORKED=false",
]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox.start(kci_delay=0.01) as running:
        yield running


@pytest.fixture
def env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for name, value in sandbox.environ().items():
        monkeypatch.setenv(name, value)
    return sandbox


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_create_and_wait_shows_each_status_and_the_result(env: Sandbox) -> None:
    code, out = run(*CREATE, "--scenario", "RED", "--wait", "--wait-timeout", "30")
    assert code == EXIT_OK
    assert "RECEIVED_BY_GATEWAY" in out
    assert "COMPLETED" in out
    assert "result RED" in out
    assert "a service problem may be raised until" in out
    assert "conversation id" in out


def test_create_json_is_machine_readable_wire_data(env: Sandbox) -> None:
    code, out = run(*CREATE, "--json", "--conversation-id", "my-conv-1")
    assert code == EXIT_OK
    record = json.loads(out)
    assert record["conversationId"] == "my-conv-1"
    assert record["serviceTest"]["serviceId"] == "BBEU00537760"
    assert record["serviceTest"]["status"] == "RECEIVED_BY_GATEWAY"


def test_get_with_wait_json_streams_status_events(env: Sandbox) -> None:
    _, created = run(*CREATE, "--json", "--scenario", "REJECTED")
    test_id = json.loads(created)["serviceTest"]["id"]
    code, out = run("service-tests", "get", str(test_id), "--wait", "--json")
    assert code == EXIT_OK
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["serviceTest"]["status"] == "REJECTED"
    assert all(line["event"] == "status" for line in lines[:-1])
    assert lines[-2]["status"] == "REJECTED"


def test_get_unknown_id_fails_with_one_line(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("service-tests", "get", "999999")
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: 404 NOT_FOUND")
    assert "request id=" in err


def test_wait_timeout_has_its_own_exit_code(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    _, created = run(*CREATE, "--json", "--kci-delay", "30")
    test_id = json.loads(created)["serviceTest"]["id"]
    code, _ = run("service-tests", "get", str(test_id), "--wait", "--wait-timeout", "0.3")
    assert code == EXIT_WAIT_TIMEOUT
    assert "error:" in capsys.readouterr().err


def test_token_shows_expiry_and_scope_never_the_token(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run("token")
    assert code == EXIT_OK
    assert out.startswith("credentials OK: Bearer token")
    assert "expires in" in out
    code, out = run("token", "--json")
    record = json.loads(out)
    assert set(record) == {"tokenType", "scope", "expiresIn", "expiresAt"}
    assert env.client_secret not in out + capsys.readouterr().err


def test_bad_credentials_fail_cleanly_without_the_secret(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "canary-secret-0xC0FFEE"
    code, out = run("token", "--client-secret", canary)
    captured = capsys.readouterr()
    assert code == EXIT_FAILED
    assert "invalid_client" in captured.err
    assert canary not in out + captured.err
    assert "Traceback" not in captured.err


def test_missing_credentials_is_a_clear_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("FIBRECAFE_CLIENT_ID", "FIBRECAFE_CLIENT_SECRET", "FIBRECAFE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    code, _ = run("token")
    assert code == EXIT_FAILED
    assert "client_id" in capsys.readouterr().err


def test_kci_parse_pretty_prints_a_published_kci() -> None:
    code, out = run("kci", "parse", str(FIXTURES / "service-test-completed.json"))
    assert code == EXIT_OK
    first, rest = out.split("\n", 1)
    assert first == "KCI SERVICE_TEST 123 #3 INFORMATIONAL/COMPLETED -> COMPLETED"
    assert json.loads(rest)["entity"]["result"]["testOutcome"]["testResult"] == "RED"


def test_kci_parse_reads_stdin_and_writes_json(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (FIXTURES / "service-test-failed-to-send.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    code, out = run("kci", "parse", "-", "--json")
    assert code == EXIT_OK
    assert json.loads(out)["error"]["code"] == "SUPPLIER_FAULT"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"{not json", "invalid KCI"), (b'{"id": "x"}', "invalid KCI"), (b"x" * 100, "invalid KCI")],
)
def test_kci_parse_rejects_bad_input_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "kci.json"
    path.write_bytes(content)
    code, _ = run("kci", "parse", str(path), "--max-bytes", "64")
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert message in err
    assert err.count("\n") == 1


def test_kci_parse_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _ = run("kci", "parse", str(tmp_path / "nope.json"))
    assert code == EXIT_FAILED
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [*CREATE, "--characteristic", "NO_EQUALS_SIGN"],
        [*CREATE, "--header", "NoColon"],
    ],
)
def test_usage_errors_exit_2(
    env: Sandbox, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(*argv)
    assert code == EXIT_USAGE
    assert "must look like" in capsys.readouterr().err


def test_argparse_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service-tests", "create"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("fibrecafe service-tests create: error: the following arguments")


def test_invalid_arguments_fail_before_sending(
    env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    before = env.stats.count("POST")
    code, _ = run(*CREATE[:3], "x" * 51, *CREATE[4:])
    assert code == EXIT_USAGE
    assert "service_id" in capsys.readouterr().err
    assert env.stats.count("POST") == before


def test_demo_console_script_runs_every_scenario() -> None:
    """The README's first command: the installed console script, in a fresh process."""
    script = shutil.which("fibrecafe", path=str(Path(sys.executable).parent))
    assert script is not None, "the fibrecafe console script is not installed"
    done = subprocess.run(  # noqa: S603 - our own console script
        [script, "demo", "--kci-delay", "0.05"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for scenario in Scenario:
        line = next(
            ln for ln in done.stdout.splitlines() if ln.strip().startswith(scenario.value + " ")
        )
        assert str(scenario.final_status) in line
        assert line.rstrip().endswith("ok")
    assert f"{len(Scenario)}/{len(Scenario)} scenarios ended as expected" in done.stdout


def test_demo_json_reports_each_kci_in_sequence_order() -> None:
    out = io.StringIO()
    assert (
        main(
            [
                "demo",
                "--json",
                "--kci-delay",
                "0.01",
                "--scenario",
                "GREEN",
                "--scenario",
                "SERVICE_TEST_FAILED_TO_SEND",
            ],
            out=out,
        )
        == 0
    )
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    kcis = [r for r in records if r["event"] == "kci"]
    green = [r["kci"]["sequenceNumber"] for r in kcis if r["scenario"] == "SERVICE_TEST_GREEN"]
    assert green == [1, 2, 3]
    assert [r["kci"]["updateType"] for r in kcis if r["scenario"].endswith("FAILED_TO_SEND")] == [
        "ERROR"
    ]
    results = {r["scenario"]: r for r in records if r["event"] == "result"}
    assert results["SERVICE_TEST_GREEN"]["status"] == "COMPLETED"
    assert results["SERVICE_TEST_FAILED_TO_SEND"]["status"] == "FAILED_TO_SEND"
    assert records[-1] == records[-1] | {"event": "done", "ok": True}


def test_an_unexpected_exception_is_one_line_naming_only_its_type(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "canary-secret-0xC0FFEE"

    def broken(args: object, out: object) -> int:
        raise KeyError({"access_token": canary})  # its message may hold anything

    monkeypatch.setitem(cli._COMMANDS, ("kci", "parse"), broken)
    assert main(["kci", "parse", "-"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (
        "error: unexpected KeyError (a bug in fibrecafe-client, please report it); "
        "run 'fibrecafe --debug ...' for the traceback\n"
    )
    # --debug asks for the traceback, secrets and all: it is the user's explicit choice.
    assert main(["--debug", "kci", "parse", "-"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert canary in err
    assert err.endswith("for the traceback\n")
