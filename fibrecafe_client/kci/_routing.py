"""Which handlers a KCI goes to: registrations by entity type, entity status and update type."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ._models import Kci

__all__ = ["HandlerRegistry", "Route"]

#: A KCI handler: a function (sync or ``async``) taking the KCI.
Handler = Callable[[Any], object]


def _as_key(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _as_keys(values: str | Iterable[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return frozenset({_as_key(values)})
    keys = frozenset(_as_key(v) for v in values)
    if not keys:
        raise ValueError("an empty filter would match nothing; pass None to match everything")
    return keys


def _is_async(handler: Handler) -> bool:
    call = getattr(type(handler), "__call__", None)  # noqa: B004 - async callable objects
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


@dataclass(frozen=True, slots=True)
class Route:
    """One registration: a handler and the KCIs it wants (None = any)."""

    handler: Handler
    is_async: bool
    entity_type: str | None = None
    statuses: frozenset[str] | None = None
    update_types: frozenset[str] | None = None

    def matches(self, kci: Kci) -> bool:
        """Whether ``kci`` passes every filter of this registration."""
        if self.entity_type is not None and _as_key(kci.entity_type) != self.entity_type:
            return False
        if self.statuses is not None:
            status = kci.entity_status
            if status is None or _as_key(status) not in self.statuses:
                return False
        return self.update_types is None or _as_key(kci.update_type) in self.update_types

    @property
    def name(self) -> str:
        """The handler's qualified name, for logs."""
        return getattr(self.handler, "__qualname__", type(self.handler).__qualname__)


class HandlerRegistry:
    """Registered handlers, in registration order; safe to extend while KCIs are handled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: tuple[Route, ...] = ()

    def add(
        self,
        handler: Handler,
        *,
        entity_type: str | None = None,
        status: str | Iterable[str] | None = None,
        update_type: str | Iterable[str] | None = None,
    ) -> None:
        """Register ``handler`` for the KCIs matching every given filter."""
        if not callable(handler):
            raise TypeError(f"a KCI handler must be callable, not {type(handler).__name__}")
        route = Route(
            handler=handler,
            is_async=_is_async(handler),
            entity_type=None if entity_type is None else _as_key(entity_type),
            statuses=_as_keys(status),
            update_types=_as_keys(update_type),
        )
        with self._lock:
            self._routes = (*self._routes, route)

    def matching(self, kci: Kci) -> tuple[Route, ...]:
        """The registrations ``kci`` goes to, in registration order."""
        return tuple(route for route in self._routes if route.matches(kci))
