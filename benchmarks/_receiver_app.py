"""The ASGI apps benchmark 7 serves with uvicorn, chosen by ``BENCH_APP``:

- ``bare``: reads the body, ``json.loads`` it, answers 204 (the floor of any KCI endpoint);
- ``memory``: ``KciReceiver`` with its in-memory store and one no-op handler;
- ``redis``: the same receiver on ``RedisKciStore`` at ``FIBRECAFE_KCI_STORE_URL``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from fibrecafe_client import Kci, KciReceiver, NoAuth, store_from_env


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A KCI endpoint that only parses the JSON."""
    if scope["type"] != "http":
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    json.loads(b"".join(chunks))
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _receiver_app() -> Any:
    store = store_from_env() if os.environ["BENCH_APP"] == "redis" else None
    receiver = KciReceiver(verifier=NoAuth(), store=store)

    @receiver.on("SERVICE_TEST")
    async def handled(kci: Kci) -> None:
        """A no-op async handler: the receiver's own cost is measured."""

    return receiver.asgi_app()


app = bare if os.environ.get("BENCH_APP", "bare") == "bare" else _receiver_app()
