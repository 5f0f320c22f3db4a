"""``python -m benchmarks._sandbox_server``: the sandbox in its own process, for benchmark 6.

Prints the client settings as one JSON line once it listens (port chosen by the OS), then serves
until SIGTERM or until its standard input closes (so it never outlives the benchmark).
"""

from __future__ import annotations

import json
import sys
import threading

from fibrecafe_client.sandbox import Sandbox, run_forever


def main() -> None:
    """Serve on 127.0.0.1 with a free port until told to stop."""
    stop = threading.Event()

    def ready(sandbox: Sandbox) -> None:
        print(json.dumps(dict(sandbox.client_kwargs())), flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent is gone or done
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    run_forever(port=0, on_ready=ready, stop_event=stop)


if __name__ == "__main__":
    main()
