"""pytest plugin for tenants' own test suites: a running Fibre Cafe sandbox and clients for it.

Registered as the ``fibrecafe`` pytest11 entry point. Importing it is cheap: the sandbox, uvicorn
and the client are only loaded when a fixture is used.
"""
