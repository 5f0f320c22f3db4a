"""Run several service tests at once with the async client, and wait for all of them.

The gateway and credentials come from environment variables, as in
``create_service_test.py``::

    FIBRECAFE_ENVIRONMENT=cvt FIBRECAFE_CLIENT_ID=... FIBRECAFE_CLIENT_SECRET=... \\
        python examples/async_service_tests.py

``FIBRECAFE_SERVICE_IDS`` is a comma-separated list of services to test. However many run
together, the client fetches a single OAuth2 token for all of them.
"""

from __future__ import annotations

import asyncio
import os

from _local_sandbox import credentials_configured, start_sandbox

from fibrecafe_client import (
    AsyncFibreCafe,
    FibreCafeError,
    ProblemType,
    ServiceTest,
    ServiceTestCharacteristics,
)


def make_client() -> AsyncFibreCafe:
    """The client this example uses when none is given: the one place choosing the gateway.

    Without credentials in the environment it runs against a local sandbox gateway.
    """
    if not credentials_configured():
        return AsyncFibreCafe(**start_sandbox().client_kwargs())
    return AsyncFibreCafe()


async def run_one(client: AsyncFibreCafe, service_id: str, *, wait_for: float) -> ServiceTest:
    """Create a test for ``service_id`` and wait until it is terminal."""
    test = await client.service_tests.create(
        service_id=service_id,
        problem_type=ProblemType.PERFORMANCE,
        service_specification=os.environ.get("FIBRECAFE_SERVICE_SPEC", "FTTP"),
        supplier=os.environ.get("FIBRECAFE_SUPPLIER", "FIBRECO"),
        characteristics=ServiceTestCharacteristics(service_has_worked=False),
    )
    print(f"{service_id}: created test {test.id}")
    return await client.service_tests.wait(test.id, timeout=wait_for)


async def main(
    client: AsyncFibreCafe | None = None, *, wait_for: float = 600.0
) -> list[ServiceTest | FibreCafeError]:
    """Test every service in ``FIBRECAFE_SERVICE_IDS`` concurrently; print each verdict."""
    ids = os.environ.get("FIBRECAFE_SERVICE_IDS", "BBEU00537760,BBEU00537761").split(",")
    own = client is None
    client = client if client is not None else make_client()
    try:
        outcomes = await asyncio.gather(
            *(run_one(client, sid.strip(), wait_for=wait_for) for sid in ids if sid.strip()),
            return_exceptions=True,
        )
    finally:
        if own:
            await client.aclose()
    results: list[ServiceTest | FibreCafeError] = []
    for outcome in outcomes:
        if isinstance(outcome, ServiceTest):
            print(f"test {outcome.id}: {outcome.status}, {outcome.test_result or 'no result'}")
            results.append(outcome)
        elif isinstance(outcome, FibreCafeError):
            print(f"failed: {outcome}")
            results.append(outcome)
        else:
            raise outcome  # not an SDK error: a bug, let it surface
    return results


if __name__ == "__main__":
    asyncio.run(main())
