"""The shape of the original's ``app.training.regression_detector`` that the rollback manager needs.

The original's rollback manager imports ``RegressionSeverity`` and
``get_regression_detector`` from that module at call time: the auto-rollback
handler is registered as a listener of the process's detector
(``wire_regression_to_rollback``), and ``AutoRollbackHandler.on_regression``
compares an event's severity with ``RegressionSeverity``'s members. This
module offers those names: the severity enum, a regression event, and a
detector that keeps listeners and hands them the events it is told about
(``notify_listeners``).

How a regression is detected (the original's Elo windows and thresholds) is
the training loop's business and is not part of the interface the rollback
manager uses; mreg's own policy for a regression already judged is
``mreg.Registry.regression`` (``mreg regression MODEL --severity S``).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class RegressionSeverity(enum.Enum):
    """How bad a regression is, mildest first."""

    MINOR = "minor"
    MODERATE = "moderate"
    SEVERE = "severe"
    CRITICAL = "critical"


@dataclass
class RegressionEvent:
    """A regression of one model: what the handler reads (model_id, severity, reason, timestamp, elo_drop)."""

    model_id: str
    severity: RegressionSeverity
    reason: str = ""
    timestamp: float = field(default_factory=time.time)
    elo_drop: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as a dict, the severity by its value."""
        sev = self.severity.value if isinstance(self.severity, enum.Enum) else self.severity
        return {"model_id": self.model_id, "severity": sev, "reason": self.reason, "timestamp": self.timestamp,
                "elo_drop": self.elo_drop, "details": dict(self.details)}


class RegressionListener(Protocol):
    def on_regression(self, event: Any) -> None: ...


class RegressionDetector:
    """Keeps listeners (objects with ``on_regression(event)``) and tells them of regressions."""

    def __init__(self) -> None:
        self._listeners: list[Any] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: RegressionListener) -> None:
        """Tell ``listener`` of every later regression; adding it twice tells it once."""
        with self._lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

    def remove_listener(self, listener: RegressionListener) -> bool:
        """Stop telling ``listener``; False when it was not listening."""
        with self._lock:
            if listener not in self._listeners:
                return False
            self._listeners.remove(listener)
            return True

    @property
    def listeners(self) -> list[Any]:
        """The listeners, in the order they were added (a copy)."""
        with self._lock:
            return list(self._listeners)

    def notify_listeners(self, event: Any) -> int:
        """Call ``on_regression(event)`` of each listener; the number called. A raising listener is logged."""
        n = 0
        for listener in self.listeners:
            n += 1
            try:
                listener.on_regression(event)
            except Exception:
                logger.exception("regression listener %r failed", listener)
        return n


_detector: RegressionDetector | None = None
_detector_lock = threading.Lock()


def get_regression_detector() -> RegressionDetector:
    """The process's detector (made at the first call)."""
    global _detector
    with _detector_lock:
        if _detector is None:
            _detector = RegressionDetector()
        return _detector


def reset_regression_detector() -> None:
    """Forget the process's detector and its listeners."""
    global _detector
    with _detector_lock:
        _detector = None
