"""Create a service test and wait for its result, with the synchronous client.

The gateway and credentials come from environment variables::

    FIBRECAFE_ENVIRONMENT=cvt FIBRECAFE_CLIENT_ID=... FIBRECAFE_CLIENT_SECRET=... \\
        python examples/create_service_test.py

(``FIBRECAFE_BASE_URL=http://127.0.0.1:8123/v1`` instead of ``FIBRECAFE_ENVIRONMENT`` for a
local gateway). With no credentials set it starts the SDK's sandbox gateway and runs there.
What to test comes from ``FIBRECAFE_SERVICE_ID``, ``FIBRECAFE_SUPPLIER``,
``FIBRECAFE_SERVICE_SPEC`` and, on CVT or the sandbox, ``FIBRECAFE_SCENARIO`` (sent as
``X-Scenario``).
``FIBRECAFE_LOG=info`` shows retries; ``debug`` shows every attempt.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

from _local_sandbox import credentials_configured, start_sandbox

from fibrecafe_client import (
    APIError,
    FibreCafe,
    ProblemType,
    ServiceTest,
    ServiceTestCharacteristics,
)


def make_client() -> FibreCafe:
    """The client this example uses when none is given: the one place choosing the gateway.

    Without credentials in the environment it runs against a local sandbox gateway.
    """
    if not credentials_configured():
        return FibreCafe(**start_sandbox().client_kwargs())
    return FibreCafe()


def show(test: ServiceTest) -> None:
    """Print a status change (``wait`` calls this on the first poll and on every change)."""
    print(f"service test {test.id}: {test.status}")


def main(client: FibreCafe | None = None, *, timeout: float = 600.0) -> ServiceTest:
    """Create one service test, wait for it to finish and print the verdict."""
    own = client is None
    client = client if client is not None else make_client()
    scenario = os.environ.get("FIBRECAFE_SCENARIO")
    try:
        test = client.service_tests.create(
            service_id=os.environ.get("FIBRECAFE_SERVICE_ID", "BBEU00537760"),
            problem_type=ProblemType.OUTAGE,
            service_specification=os.environ.get("FIBRECAFE_SERVICE_SPEC", "FTTP"),
            supplier=os.environ.get("FIBRECAFE_SUPPLIER", "FIBRECO"),
            characteristics=ServiceTestCharacteristics(
                service_has_worked=True,
                service_last_worked=datetime.now(UTC) - timedelta(hours=3),
            ),
            extra_headers={"X-Scenario": scenario} if scenario else None,
        )
        print(f"created service test {test.id} (conversation id {test.conversation_id})")
        final = client.service_tests.wait(test.id, timeout=timeout, on_update=show)
    except APIError as err:
        if err.outcome_unknown:
            print(
                f"the test may exist: look for conversation id {err.conversation_id} in the KCIs",
                file=sys.stderr,
            )
        raise
    finally:
        if own:
            client.close()
    verdict = final.test_result or "no result"
    print(f"final: {final.status}, {verdict}; may raise a problem: {final.may_raise_problem()}")
    return final


if __name__ == "__main__":
    main()
