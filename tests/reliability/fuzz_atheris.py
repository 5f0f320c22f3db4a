"""Coverage-guided fuzzing of ``parse_kci`` and ``KciReceiver.handle`` with atheris (opt-in).

Not part of the test suite (pytest does not collect it) and not run in CI. atheris is not a
dependency of the project; install it in your environment first::

    pip install atheris
    python tests/reliability/fuzz_atheris.py -runs=200000 -max_len=8192

Any libFuzzer flag may be passed. Without a corpus directory the five published KCIs are the
seeds. A crash is any exception other than ``KciParseError`` from ``parse_kci``, or an answer
from the receiver outside the documented ones; libFuzzer then writes the input to
``crash-<hash>``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

ALLOWED = {204, 400, 401, 405, 413, 415, 422}
SEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "kcis"


def main() -> None:
    """Instrument the SDK, then hand control to libFuzzer."""
    atheris: Any = importlib.import_module("atheris")
    with atheris.instrument_imports():
        from fibrecafe_client import BearerTokenVerifier, KciParseError, KciReceiver, parse_kci

    receiver = KciReceiver(verifier=BearerTokenVerifier("s3cret-s3cret"), in_flight_timeout=0.0)
    receiver.on_any(lambda kci: None)
    logging.disable(logging.WARNING)  # the receiver logs every refusal
    headers = {"authorization": "Bearer s3cret-s3cret", "content-type": "application/json"}

    def one_input(data: bytes) -> None:
        with contextlib.suppress(KciParseError):  # the one exception allowed
            parse_kci(data)
        status = receiver.handle("POST", headers, data).status
        if status not in ALLOWED:
            raise AssertionError(f"the receiver answered {status}")

    args = list(sys.argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="kci-corpus-"))
        for seed in SEEDS.glob("*.json"):
            (corpus / seed.name).write_bytes(seed.read_bytes())
        args.append(str(corpus))
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
