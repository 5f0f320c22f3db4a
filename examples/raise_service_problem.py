"""The fault journey after a service test: raise a problem, follow it, accept the repair.

The gateway and credentials come from environment variables::

    FIBRECAFE_ENVIRONMENT=cvt FIBRECAFE_CLIENT_ID=... FIBRECAFE_CLIENT_SECRET=... \\
        python examples/raise_service_problem.py

With no credentials set it starts the SDK's sandbox gateway and runs there. It runs a RED
service test (``X-Scenario: SERVICE_TEST_RED``), raises a service problem from it, answers an
``INFORMATION_REQUIRED`` action with an amendment when the supplier asks, accepts the
resolution and checks that the problem is COMPLETED. ``FIBRECAFE_PROBLEM_SCENARIO`` picks the
sandbox's problem scenario (``SERVICE_PROBLEM_INFORMATION_REQUIRED`` by default).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from _local_sandbox import credentials_configured, start_sandbox

from fibrecafe_client import (
    APIError,
    Contact,
    FibreCafe,
    ServiceProblem,
    ServiceProblemCharacteristics,
    ServiceProblemStatus,
)


def make_client() -> FibreCafe:
    """The client: the environment's gateway, or a local sandbox without credentials."""
    if not credentials_configured():
        return FibreCafe(**start_sandbox(kci_delay=0.05).client_kwargs())
    return FibreCafe()


def show(problem: ServiceProblem) -> None:
    """Print each change ``wait`` sees."""
    action = problem.pending_action
    extra = f" (action {action.type})" if problem.needs_tenant_action and action else ""
    print(f"service problem {problem.id}: {problem.status}{extra}")


def moved_on_from(status: ServiceProblemStatus | str) -> Callable[[ServiceProblem], bool]:
    """A ``wait`` condition: the problem has left ``status``."""
    return lambda problem: problem.status != status


def main(client: FibreCafe | None = None, *, timeout: float = 600.0) -> ServiceProblem:
    """Run the journey once and return the final problem."""
    own = client is None
    client = client if client is not None else make_client()
    scenario = os.environ.get("FIBRECAFE_PROBLEM_SCENARIO", "SERVICE_PROBLEM_INFORMATION_REQUIRED")
    try:
        test = client.service_tests.create(
            service_id=os.environ.get("FIBRECAFE_SERVICE_ID", "BBEU00537760"),
            problem_type="OUTAGE",
            service_specification=os.environ.get("FIBRECAFE_SERVICE_SPEC", "FTTP"),
            supplier=os.environ.get("FIBRECAFE_SUPPLIER", "FIBRECO"),
            characteristics={"SERVICE_HAS_WORKED": "false"},
            extra_headers={"X-Scenario": "SERVICE_TEST_RED"},
        )
        test = client.service_tests.wait(test.id, timeout=timeout, poll_interval=0.1)
        print(f"service test {test.id}: {test.status}, {test.test_result}")
        request = test.problem_request(
            problem_text="Service is completely down since this morning.",
            characteristics=ServiceProblemCharacteristics(
                service_has_worked=False, cpe_power_on=True, ont_power_on=True
            ),
            primary_contact=Contact(name="Jane Bloggs", phone_number="01234 567890"),
            external_identifier="EXAMPLE-0001",
        )
        problem = client.service_problems.create_from(
            request, extra_headers={"X-Scenario": scenario}
        )
        print(f"raised service problem {problem.id} (conversation {problem.conversation_id})")
        while True:
            problem = client.service_problems.wait(
                problem.id, timeout=timeout, poll_interval=0.1, on_update=show
            )
            if problem.is_terminal:
                break
            if problem.status is ServiceProblemStatus.PENDING:
                asked = problem.pending_action.text if problem.pending_action else None
                print(f"the supplier asks: {asked}")
                client.service_problems.amend(problem.id, notes="Key safe code 1234 at the door.")
            elif problem.resolution_id is not None:
                client.service_problems.accept_resolution(problem, "Service restored, thanks")
                print(f"accepted resolution {problem.resolution_id}")
            # wait again until something else happens
            problem = client.service_problems.wait(
                problem.id,
                timeout=timeout,
                poll_interval=0.1,
                until=moved_on_from(problem.status),
            )
        print(f"final: {problem.status}")
        return problem
    except APIError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        raise
    finally:
        if own:
            client.close()


if __name__ == "__main__":
    main()
