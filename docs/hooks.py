"""MkDocs hook: render the Sphinx roles of the SDK's docstrings as plain code.

The docstrings are read in IDEs and ``help()`` as well as here, so they keep the familiar
``:class:`~fibrecafe_client.X``` form; on the site it shows as ``X``.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|exc|attr|data|mod|obj|const):(?=<code>)")
_TILDE = re.compile(r"<code>~(?:[A-Za-z_][A-Za-z0-9_]*\.)*([A-Za-z_][A-Za-z0-9_.]*)</code>")


def on_page_content(html: str, **_: Any) -> str:
    """Drop the role prefix and shorten ``~a.b.C`` to ``C``, as Sphinx would."""
    return _TILDE.sub(r"<code>\1</code>", _ROLE.sub("", html))
