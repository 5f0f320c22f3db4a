"""The receiver each fleet process runs (``uvicorn tests.fleet.app:app``), configured from the
environment by the test that starts it.

Its handler's side effects are counted outside the process, in Redis (keys under ``fleet:``,
apart from the receiver's own ``fibrecafe:kci:`` keys): how often each KCI was handled, whether
it was flagged stale, and how many handlers of one entity ran at the same time. A test can make
the handler of one KCI slow by setting ``fleet:block:<kci id>`` to a number of seconds.
"""

from __future__ import annotations

import os
import time

import redis

from fibrecafe_client import Kci, KciReceiver, NoAuth, store_from_env

_env = os.environ
_worker = _env.get("FLEET_WORKER", str(os.getpid()))
receiver = KciReceiver(
    verifier=NoAuth(),
    store=store_from_env(),  # FIBRECAFE_KCI_STORE_URL, as a tenant's deployment would
    claim_lease=float(_env.get("FLEET_LEASE", "30")),
    in_flight_timeout=float(_env.get("FLEET_IN_FLIGHT_TIMEOUT", "10")),
    exclusive_per_entity=_env.get("FLEET_EXCLUSIVE") == "1",
)
_effects = redis.Redis.from_url(_env["FIBRECAFE_KCI_STORE_URL"])


@receiver.on_any
def count(kci: Kci) -> None:
    """Record the side effect of handling ``kci`` (after an optional, test-chosen delay)."""
    key = f"{kci.id}|{kci.sequence_number}"
    entity = f"{kci.entity_type}:{kci.entity_id}"
    if _effects.incr(f"fleet:active:{entity}") > 1:
        _effects.incr("fleet:overlaps")
    try:
        delay = _effects.get(f"fleet:block:{kci.id}")
        if delay is not None:
            _effects.rpush(f"fleet:entered:{kci.id}", _worker)
            time.sleep(float(delay))
        _effects.hincrby("fleet:effects", key, 1)
        _effects.hset("fleet:stale", key, int(kci.is_stale))
        _effects.hset("fleet:worker", key, _worker)
        _effects.hset("fleet:entity", key, f"{kci.entity_id}|{kci.entity_status}")
    finally:
        _effects.decr(f"fleet:active:{entity}")


app = receiver.asgi_app()
