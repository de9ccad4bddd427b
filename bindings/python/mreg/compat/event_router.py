"""An in-process event bus of the shape of the original's ``app.coordination.event_router``.

The original's rollback manager reaches its collaborators through that module
at call time (``get_event_bus``, ``DataEventType``, ``DataEvent``), and callers
patch ``get_event_bus`` there. This module is the same shape inside the
package: ``mreg.compat.rollback_manager`` looks ``get_event_bus`` up through
this module on every call, so patching ``mreg.compat.event_router.get_event_bus``
works as patching the original's did.

The bus is synchronous and local to the process: ``publish`` calls each
handler of the event's type in subscription order, in the caller's thread; a
handler that raises is logged and the others still run; a handler that
returns a coroutine has it scheduled on the running loop, or run to the end
when there is none. It carries notifications between objects of one process
only: what every node must see is in the registry's log (a rollback is a
``rollback`` event there, which ``mreg watch --exec`` reports on every node).

``safe_emit_event`` stands for the original's
``app.coordination.event_emission_helpers.safe_emit_event``: publish, never
raise.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

logger = logging.getLogger(__name__)

Handler = Callable[["DataEvent"], Any]


class DataEventType(enum.Enum):
    """Event types of the bus: at least every member the rollback manager subscribes to or emits."""

    REGRESSION_DETECTED = "regression_detected"
    REGRESSION_SEVERE = "regression_severe"
    REGRESSION_CRITICAL = "regression_critical"
    ELO_SIGNIFICANT_CHANGE = "elo_significant_change"
    LOW_QUALITY_DATA_WARNING = "low_quality_data_warning"
    HIGH_QUALITY_DATA_AVAILABLE = "high_quality_data_available"
    PROMOTION_ROLLED_BACK = "promotion_rolled_back"
    SELFPLAY_TARGET_UPDATED = "selfplay_target_updated"


@dataclass
class DataEvent:
    """One event on the bus: its type, a payload dict, when (``time.time()``) and who sent it."""

    event_type: DataEventType
    payload: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The event as a dict, the type by its value."""
        t = self.event_type.value if isinstance(self.event_type, enum.Enum) else self.event_type
        return {"event_type": t, "payload": dict(self.payload), "timestamp": self.timestamp, "source": self.source}


class EventBus:
    """Handlers by event type; ``publish`` calls them in the order they subscribed."""

    def __init__(self) -> None:
        self._handlers: dict[Any, list[Handler]] = {}
        self._lock = threading.Lock()

    def subscribe(self, event_type: Any, handler: Handler) -> None:
        """Call ``handler(event)`` for every event of ``event_type``; subscribing twice calls it once."""
        with self._lock:
            hs = self._handlers.setdefault(event_type, [])
            if handler not in hs:
                hs.append(handler)

    def unsubscribe(self, event_type: Any, handler: Handler) -> bool:
        """Stop calling ``handler`` for ``event_type``; False when it was not subscribed."""
        with self._lock:
            hs = self._handlers.get(event_type, [])
            if handler not in hs:
                return False
            hs.remove(handler)
            return True

    def handlers(self, event_type: Any) -> list[Handler]:
        """The handlers of ``event_type``, in call order (a copy)."""
        with self._lock:
            return list(self._handlers.get(event_type, []))

    def publish(self, event: DataEvent) -> int:
        """Call the handlers of ``event.event_type``; the number called. A raising handler is logged."""
        called = 0
        for h in self.handlers(event.event_type):
            called += 1
            try:
                res = h(event)
                if inspect.isawaitable(res):
                    _finish(res)
            except Exception:  # one handler's failure does not stop the others
                logger.exception("event handler %r failed on %s", h, event.event_type)
        return called

    publish_sync = publish

    def clear(self) -> None:
        """Drop every subscription."""
        with self._lock:
            self._handlers.clear()


def _finish(aw: Any) -> None:
    """Schedule an awaitable on the running loop, or run it to the end when there is none."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_await(aw))
        return
    loop.create_task(_await(aw))


async def _await(aw: Any) -> Any:
    return await aw


_bus: EventBus | None = None
_bus_lock = threading.Lock()


def get_event_bus() -> EventBus:
    """The process's bus (made at the first call). Patch this name to give callers another bus."""
    global _bus
    with _bus_lock:
        if _bus is None:
            _bus = EventBus()
        return _bus


def reset_event_bus() -> None:
    """Forget the process's bus (its subscriptions with it); the next ``get_event_bus`` makes a new one."""
    global _bus
    with _bus_lock:
        _bus = None


def safe_emit_event(event_type: DataEventType, payload: dict[str, Any] | None = None, source: str = "",
                    context: str = "") -> bool:
    """Publish an event on ``get_event_bus()`` (looked up at call time); False instead of any error."""
    try:
        bus = get_event_bus()
        if bus is None:
            return False
        bus.publish(DataEvent(event_type=event_type, payload=dict(payload or {}), source=source))
        return True
    except Exception:
        logger.debug("could not emit %s (%s)", event_type, context or source, exc_info=True)
        return False
