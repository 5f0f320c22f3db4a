"""``Secret``: the client secret held in an object whose repr is redacted.

Traceback tools print frame locals (pytest ``-l``, ``traceback`` with ``capture_locals=True``,
Sentry, rich): a secret kept in a plain ``str`` local or attribute is printed with them. The SDK
wraps the secret the moment it receives it and unwraps it only inside the expressions that send
it, so no frame on an error's path holds it as text.
"""

from __future__ import annotations

from typing import Final

__all__ = ["Secret", "conceal"]

_SHOWN: Final = "Secret('***')"


class Secret:
    """A secret value; ``repr``/``str`` show ``Secret('***')``, :meth:`reveal` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: use it in the expression that sends it, keep no local of it."""
        return self._value

    def __repr__(self) -> str:
        return _SHOWN

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:
        raise TypeError("a Secret is not pickled")


def conceal(value: object) -> object:
    """``value`` wrapped in a :class:`Secret` if it is a ``str``, else unchanged (None, a wrong
    type to be refused later)."""
    return Secret(value) if isinstance(value, str) else value
