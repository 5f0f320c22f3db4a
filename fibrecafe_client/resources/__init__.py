"""Resource namespaces of the clients (``client.service_tests``, ``client.service_problems``)."""

from .service_problems import AsyncServiceProblems, ServiceProblems
from .service_tests import AsyncServiceTests, ServiceTests

__all__ = ["AsyncServiceProblems", "AsyncServiceTests", "ServiceProblems", "ServiceTests"]
