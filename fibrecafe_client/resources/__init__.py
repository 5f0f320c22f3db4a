"""Resource namespaces of the clients (``client.service_tests``)."""

from .service_tests import AsyncServiceTests, ServiceTests

__all__ = ["AsyncServiceTests", "ServiceTests"]
