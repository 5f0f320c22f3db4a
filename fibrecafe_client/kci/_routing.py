"""Which handlers a KCI goes to: registrations by entity type, entity status, update type and
action type."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ._models import Kci

__all__ = ["HandlerRegistry", "Route", "RouteFilter"]

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
class RouteFilter:
    """Which KCIs a registration wants: each criterion a set of values, or None for any."""

    entity_type: str | None = None
    statuses: frozenset[str] | None = None
    update_types: frozenset[str] | None = None
    #: ``action.type`` values (``CONFIRM``...); a KCI without an action never matches them.
    actions: frozenset[str] | None = None

    @classmethod
    def build(
        cls,
        entity_type: str | None = None,
        status: str | Iterable[str] | None = None,
        update_type: str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
    ) -> RouteFilter:
        """Normalise enum members and single values; refuse empty collections."""
        return cls(
            entity_type=None if entity_type is None else _as_key(entity_type),
            statuses=_as_keys(status),
            update_types=_as_keys(update_type),
            actions=_as_keys(action),
        )

    def matches(self, kci: Kci) -> bool:
        """Whether ``kci`` passes every criterion."""
        if self.entity_type is not None and _as_key(kci.entity_type) != self.entity_type:
            return False
        if self.statuses is not None:
            status = kci.entity_status
            if status is None or _as_key(status) not in self.statuses:
                return False
        if self.actions is not None:
            kind = None if kci.action is None else kci.action.type
            if kind is None or _as_key(kind) not in self.actions:
                return False
        return self.update_types is None or _as_key(kci.update_type) in self.update_types


@dataclass(frozen=True, slots=True)
class Route:
    """One registration: a handler and the KCIs it wants."""

    handler: Handler
    is_async: bool
    wants: RouteFilter

    @property
    def name(self) -> str:
        """The handler's qualified name, for logs."""
        return getattr(self.handler, "__qualname__", type(self.handler).__qualname__)


class HandlerRegistry:
    """Registered handlers, in registration order; safe to extend while KCIs are handled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: tuple[Route, ...] = ()

    def add(self, handler: Handler, wants: RouteFilter | None = None) -> None:
        """Register ``handler`` for the KCIs ``wants`` matches (all when None)."""
        if not callable(handler):
            raise TypeError(f"a KCI handler must be callable, not {type(handler).__name__}")
        route = Route(handler, _is_async(handler), wants or RouteFilter())
        with self._lock:
            self._routes = (*self._routes, route)

    def remove(self, handler: Handler) -> int:
        """Unregister every registration of ``handler``; how many there were."""
        with self._lock:
            kept = tuple(route for route in self._routes if route.handler is not handler)
            removed = len(self._routes) - len(kept)
            self._routes = kept
        return removed

    def matching(self, kci: Kci) -> tuple[Route, ...]:
        """The registrations ``kci`` goes to, in registration order."""
        return tuple(route for route in self._routes if route.wants.matches(kci))
