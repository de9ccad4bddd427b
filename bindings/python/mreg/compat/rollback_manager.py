"""The original's ``app.training.rollback_manager`` on mreg: baselines, checks, rollbacks and their wiring.

    from mreg.compat.rollback_manager import RollbackManager

    manager = RollbackManager(registry)
    manager.set_baseline("square8_2p", {"elo": 1600, "games_played": 100})
    if manager.should_rollback("square8_2p", current)[0]:
        manager.rollback_model("square8_2p", reason="Elo regressed")

``registry`` is duck-typed as in the original. An object that carries an
``mreg.Registry`` (``mreg.compat.model_registry.ModelRegistry``, an
``mreg.Registry`` itself, or a registry directory's path) is worked through
that handle, and mreg's rules apply:

- *Atomic rollback* (mreg deliberately differs): a rollback is one
  ``rollback`` event, the target archived -> production and the production
  version -> archived together; the original made three promotions
  (archived -> development -> staging -> production) and a failure half-way
  left them done. mreg rolls back only to an archived version and refuses
  any other target before writing anything, with its own message (the
  original "rolled back" to a development version, and failed on a staging
  one with ``Cannot transition from staging to staging``).
- *Production per model* (mreg deliberately differs): "in production" means
  "this model has a production version"; the original consulted the one
  registry-wide production model (``should_rollback`` said ``Model not in
  production`` for every model but the most recently promoted one).
- *The record is the log*: every rollback is in the registry's log, the same
  on every node (``Registry.rollback_history``). The manager's ``_history``
  is the log's record (with ISO timestamps in naive local time, as the
  original wrote them), kept up to date at each ``get_rollback_history`` and
  ``get_rollback_stats``, plus what the log cannot hold: attempts mreg
  refused (it writes nothing then; the original recorded them as failed
  events, and so does the manager, in ``_history`` and its file) and events
  the caller put there. ``history_path`` is honoured as the original's file:
  read at construction (events already in the log are not added twice, so
  the original's file from before the switch and failed attempts survive a
  restart) and written after each attempt as the original's JSON list; the
  log stays the record of the rollbacks themselves.
- *Baselines are events too*: ``set_baseline`` keeps the original's snapshot
  in ``_baselines`` and records it in the log (``Registry.baseline_set``), so
  a manager made later (another process, a restart) finds it. A snapshot in
  ``_baselines`` wins over the log's; a rollback drops both.
- Rollbacks through mreg are subject to mreg.json's rollback policy for
  automatic triggers (``auto_*``: ``rollback.auto_rollback_enabled``,
  cooldown, daily limit); a refused one is a failed attempt with mreg's
  reason.

A registry without an ``mreg.Registry`` (a test double) is worked through
the four methods the original used (``get_production_model``,
``list_models``, ``get_model``, ``promote``), as the original did.

Thresholds are the manager's (``RollbackThresholds``), as the original's:
checks are computed here from the baseline and the metrics given, not from
mreg.json's ``rollback.*`` keys (those drive ``mreg rollback check`` and
``Registry.rollback_check``).

The Prometheus counter ``ringrift_model_rollbacks_total`` is incremented
when ``prometheus_client`` is importable (it is not part of the standard
library; without it nothing happens, as in the original). ``mreg metrics``
exports the same counter from the log for every node.

The event bus and the regression detector are ``mreg.compat.event_router``
and ``mreg.compat.regression_detector`` (the original's
``app.coordination.event_router`` and ``app.training.regression_detector``),
looked up through their module paths at each call, so patching
``mreg.compat.event_router.get_event_bus`` works as patching the original's.
"""

from __future__ import annotations

import enum
import importlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import mreg

from ._common import local_iso

logger = logging.getLogger(__name__)

# The original's DATA_DIR is <ai-service>/data; here it is ./data, beside mreg's default registry
# (data/model_registry), both relative to the current directory.
DATA_DIR = Path("data")
ROLLBACK_HISTORY_PATH = DATA_DIR / "rollback_history.json"

_ALL = 1 << 30  # "every record" for Registry.rollback_history

_rollback_manager: "RollbackManager | None" = None
_auto_handler: "AutoRollbackHandler | None" = None
_quality_rollback_watcher: "QualityRollbackWatcher | None" = None


# ---- helpers ------------------------------------------------------------------


def _now_iso() -> str:
    """Now as the original wrote it: naive local time, ISO."""
    return datetime.now().isoformat()


def _event_router() -> ModuleType:
    """``mreg.compat.event_router``, looked up at call time so that patching it works."""
    return importlib.import_module("mreg.compat.event_router")


def _regression_detector() -> ModuleType:
    return importlib.import_module("mreg.compat.regression_detector")


class _Stage(enum.Enum):
    """ModelStage when mreg.compat.model_registry is not importable (same members and values)."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    REJECTED = "rejected"


def _model_stage() -> Any:
    """The original imports ModelStage lazily from model_registry; so does this."""
    try:
        return importlib.import_module("mreg.compat.model_registry").ModelStage
    except (ImportError, AttributeError):
        return _Stage


def _handle_of(registry: Any) -> mreg.Registry | None:
    """The mreg.Registry a registry argument carries: itself, one opened on a path, or one among its attributes."""
    if isinstance(registry, mreg.Registry):
        return registry
    if isinstance(registry, (str, os.PathLike)):
        return mreg.Registry(registry)
    attr = getattr(registry, "mreg", None)
    if isinstance(attr, mreg.Registry):
        return attr
    try:
        values = list(vars(registry).values())
    except TypeError:
        return None
    for v in values:
        if isinstance(v, mreg.Registry):
            return v
    for v in values:  # one level down: a database object holding the handle
        try:
            for w in vars(v).values():
                if isinstance(w, mreg.Registry):
                    return w
        except TypeError:
            continue
    return None


def _metrics_dict(metrics: Any) -> dict[str, Any]:
    if not metrics:
        return {}
    if isinstance(metrics, dict):
        return dict(metrics)
    return metrics.to_dict()


def _stage_value(stage: Any) -> Any:
    return stage.value if isinstance(stage, enum.Enum) else stage


# ---- records --------------------------------------------------------------------


@dataclass
class RollbackEvent:
    """One rollback attempt: from/to versions, why, who, when (naive local ISO), metrics, outcome."""

    model_id: str
    from_version: int
    to_version: int
    reason: str
    triggered_by: str
    timestamp: str
    from_metrics: dict[str, Any] = field(default_factory=dict)
    to_metrics: dict[str, Any] = field(default_factory=dict)
    success: bool = True
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """All ten fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RollbackEvent":
        """Every key to the constructor: an unknown or a missing required key raises TypeError."""
        return cls(**d)


def _event_of_record(r: dict[str, Any]) -> RollbackEvent:
    """A record of the registry's log (Registry.rollback_history) as the original's event."""
    return RollbackEvent(model_id=r.get("model_id"), from_version=r.get("from_version"),
                         to_version=r.get("to_version"), reason=r.get("reason") or "",
                         triggered_by=r.get("triggered_by") or "", timestamp=local_iso(r.get("timestamp")),
                         from_metrics=dict(r.get("from_metrics") or {}), to_metrics=dict(r.get("to_metrics") or {}),
                         success=bool(r.get("success", True)), error_message=r.get("error_message"))


def _event_key(e: Any) -> tuple:
    """What identifies an event in the history file and in the log alike."""
    return tuple(getattr(e, k, None) for k in ("model_id", "from_version", "to_version", "triggered_by", "success",
                                                 "timestamp"))


@dataclass
class RollbackThresholds:
    """When a production model counts as degraded. The window and error rate are stored only, as in the original."""

    elo_drop_threshold: float = 50.0
    elo_drop_window_hours: float = 24.0
    win_rate_drop_threshold: float = 0.10
    error_rate_threshold: float = 0.05
    min_games_for_evaluation: int = 50


@dataclass
class RollbackResult:
    """What ``RollbackManager.rollback`` reports."""

    success: bool
    rolled_back_to: int | None = None
    from_version: int | None = None
    error: str | None = None


# ---- the manager ----------------------------------------------------------------


class RollbackManager:
    """Baselines, performance checks, rollbacks and their record for the models of one registry.

    See the module's docstring for where it differs from the original (atomic rollback, per-model
    production, the log as the record, baselines as events).
    """

    def __init__(self, registry: Any, thresholds: RollbackThresholds | None = None,
                 history_path: str | os.PathLike | None = None) -> None:
        self.registry = registry
        self.thresholds = thresholds if thresholds is not None else RollbackThresholds()
        self.history_path = Path(history_path) if history_path is not None else ROLLBACK_HISTORY_PATH
        self._reg = _handle_of(registry)
        self._history: list[RollbackEvent] = []
        self._baselines: dict[str, dict] = {}
        self._log_seen: set[Any] = set()
        self._load_history()

    # ---- the record ---------------------------------------------------------

    def _load_history(self) -> None:
        """``_history`` from ``history_path`` (errors swallowed: then empty) and the registry's log."""
        events: list[RollbackEvent] = []
        try:
            if self.history_path.exists():
                with open(self.history_path, encoding="utf-8") as f:
                    events = [RollbackEvent.from_dict(d) for d in json.load(f)]
        except Exception as e:  # the original's: any error leaves the history empty
            logger.warning("could not load rollback history %s: %s", self.history_path, e)
            events = []
        self._history = events
        self._log_seen = set()
        self._merge_log()

    def _merge_log(self) -> None:
        """Append the log's rollback records not seen yet, oldest first; one already in ``_history`` is not doubled."""
        if self._reg is None:
            return
        try:
            records = self._reg.rollback_history(limit=_ALL)
        except mreg.Error as e:
            logger.warning("could not read the rollback record: %s", e)
            return
        known: set[tuple] | None = None
        for r in reversed(records):
            rid = r.get("event") or json.dumps(r, sort_keys=True)
            if rid in self._log_seen:
                continue
            self._log_seen.add(rid)
            ev = _event_of_record(r)
            if known is None:
                known = {_event_key(e) for e in self._history}
            if _event_key(ev) in known:
                continue
            known.add(_event_key(ev))
            self._history.append(ev)

    def _save_history(self) -> None:
        """Write ``_history`` to ``history_path`` as an indented JSON list (atomically); errors swallowed."""
        tmp = None
        try:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".rollback_history.", dir=self.history_path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump([e.to_dict() for e in self._history], f, indent=2)
            os.replace(tmp, self.history_path)
            tmp = None
        except Exception as e:
            logger.warning("could not save rollback history %s: %s", self.history_path, e)
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def _emit_rollback_metric(self, model_id: str, triggered_by: str) -> None:
        """Increment ``ringrift_model_rollbacks_total{model_id, trigger}`` if prometheus_client has it; never raises."""
        try:
            from prometheus_client import REGISTRY  # type: ignore[import-not-found]
        except ImportError:
            return
        try:
            collector = REGISTRY._names_to_collectors.get("ringrift_model_rollbacks_total")
            if collector is not None:
                collector.labels(model_id=model_id, trigger=triggered_by).inc()
        except Exception as e:
            logger.debug("rollback metric not emitted: %s", e)

    # ---- baselines and checks -----------------------------------------------

    def set_baseline(self, model_id: str, metrics: dict) -> None:
        """Record the baseline later checks compare to (replacing any); also as an event in the log.

        The log's copy fills a missing Elo or win rate from the production version (mreg's rule) and is
        not written when mreg refuses it (no production version and metrics not all given, a metric out
        of range, an id mreg does not accept): the snapshot in ``_baselines`` is kept either way.
        """
        self._baselines[model_id] = {"timestamp": _now_iso(), "elo": metrics.get("elo"),
                                     "win_rate": metrics.get("win_rate"),
                                     "games_played": metrics.get("games_played", 0)}
        if self._reg is None:
            return
        given = {k: metrics.get(k) for k in ("elo", "win_rate", "games_played") if metrics.get(k) is not None}
        try:
            self._reg.baseline_set(model_id, metrics=given)
        except mreg.Error as e:
            logger.warning("baseline of %s kept in this process only: %s", model_id, e)

    def get_baseline(self, model_id: str) -> dict | None:
        """The baseline a check uses: ``_baselines``' snapshot, else the log's, else None. (Not in the original.)"""
        b = self._baselines.get(model_id)
        if b is not None or self._reg is None:
            return b
        try:
            rec = self._reg.baseline_get(model_id)
        except mreg.Error:
            return None
        if not rec:
            return None
        return {"timestamp": local_iso(rec.get("set_at")), "elo": rec.get("elo"), "win_rate": rec.get("win_rate"),
                "games_played": rec.get("games_played") or 0}

    def check_performance(self, model_id: str, current_metrics: dict) -> tuple[bool, str]:
        """(is_degraded, reason) against the baseline, in the original's order and words."""
        baseline = self.get_baseline(model_id)
        if baseline is None:
            return False, "No baseline set"
        t = self.thresholds
        games_since = current_metrics.get("games_played", 0) - baseline["games_played"]
        if games_since < t.min_games_for_evaluation:
            return False, f"Insufficient games ({games_since})"
        b_elo, c_elo = baseline.get("elo"), current_metrics.get("elo")
        if b_elo and c_elo:
            drop = b_elo - c_elo
            if drop >= t.elo_drop_threshold:
                return True, f"Elo dropped by {drop:.0f} (threshold: {t.elo_drop_threshold})"
        b_wr, c_wr = baseline.get("win_rate"), current_metrics.get("win_rate")
        if b_wr and c_wr:
            drop = b_wr - c_wr
            if drop >= t.win_rate_drop_threshold:
                return True, f"Win rate dropped by {drop:.1%} (threshold: {t.win_rate_drop_threshold:.1%})"
        return False, "Performance within acceptable range"

    # ---- what the registry holds --------------------------------------------

    def _model_production(self, model_id: str) -> dict | None:
        """This model's production version as {version, metrics} (mreg: per model; a double: the registry's one)."""
        if self._reg is not None:
            prods = self._reg.list(stage="production", model_id=model_id)
            return {"version": prods[0]["version"], "metrics": dict(prods[0]["metrics"])} if prods else None
        prod = self.registry.get_production_model()
        if prod is None or prod.model_id != model_id:
            return None
        return {"version": prod.version, "metrics": _metrics_dict(prod.metrics)}

    def _production_for_rollback(self, model_id: str) -> tuple[bool, dict | None]:
        """(anything in production at all, this model's production {version, metrics} or None)."""
        if self._reg is not None:
            prods = self._reg.list(stage="production")
            mine = [p for p in prods if p["model_id"] == model_id]
            return bool(prods), ({"version": mine[0]["version"], "metrics": dict(mine[0]["metrics"])} if mine else None)
        prod = self.registry.get_production_model()
        if prod is None:
            return False, None
        if prod.model_id == model_id:
            return True, {"version": prod.version, "metrics": _metrics_dict(prod.metrics)}
        for e in self.registry.list_models(stage=_model_stage().PRODUCTION):
            if e.get("model_id") == model_id:
                return True, {"version": e.get("version"), "metrics": dict(e.get("metrics") or {})}
        return True, None

    def _entry(self, v: dict) -> dict:
        """A version as the original's list_models entry."""
        fp = v.get("file_path")
        if fp and self._reg is not None:
            fp = os.path.join(os.path.abspath(self._reg.path), fp)
        return {"model_id": v["model_id"], "version": v["version"], "name": v.get("name"),
                "model_type": v.get("model_type"), "stage": v.get("stage"), "file_path": fp,
                "metrics": dict(v.get("metrics") or {}), "updated_at": local_iso(v.get("updated_at"))}

    def _archived(self, model_id: str) -> list[dict]:
        if self._reg is not None:
            return [self._entry(v) for v in self._reg.list(stage="archived", model_id=model_id)]
        return [m for m in self.registry.list_models(stage=_model_stage().ARCHIVED) if m.get("model_id") == model_id]

    def _version_metrics(self, model_id: str, version: int) -> dict | None:
        """A version's metrics, or None when there is no such version."""
        if self._reg is not None:
            try:
                v = self._reg.get(model_id, version)
            except mreg.Invalid:
                return None
            return None if v is None else dict(v.get("metrics") or {})
        m = self.registry.get_model(model_id, version)
        return None if m is None else _metrics_dict(m.metrics)

    # ---- decisions ----------------------------------------------------------

    def should_rollback(self, model_id: str, current_metrics: dict | None = None) -> tuple[bool, str]:
        """(should, reason): "Model not in production", "No rollback candidates available", the check's
        degradation, else "No rollback needed". In production means this model's production version (mreg)."""
        try:
            prod = self._model_production(model_id)
        except mreg.Invalid:
            prod = None
        if prod is None:
            return False, "Model not in production"
        if current_metrics is None:
            current_metrics = prod["metrics"] or {}
        if not self._archived(model_id):
            return False, "No rollback candidates available"
        degraded, reason = self.check_performance(model_id, current_metrics)
        if degraded:
            return True, reason
        return False, "No rollback needed"

    def get_rollback_candidate(self, model_id: str) -> dict | None:
        """The highest archived version with an Elo above 0, else the highest archived one, else None.

        The original's list_models entry (model_id, version, name, model_type, stage, file_path, metrics,
        updated_at); file_path is the stored file's absolute path in the registry.
        """
        cands = sorted(self._archived(model_id), key=lambda c: c["version"], reverse=True)
        for c in cands:
            elo = (c.get("metrics") or {}).get("elo")
            if elo and elo > 0:
                return c
        return cands[0] if cands else None

    # ---- rollbacks ------------------------------------------------------------

    def rollback_model(self, model_id: str, to_version: int | None = None, reason: str = "Manual rollback",
                       triggered_by: str = "manual") -> dict:
        """Roll ``model_id`` back to ``to_version`` (else the candidate); never raises for registry errors.

        Always {"success", "model_id", "reason"}; "error" when it failed; on success also from_version,
        to_version, from_metrics, to_metrics. Through mreg it is one atomic ``rollback`` event; a refused
        one writes nothing to the registry and is kept as a failed event in ``_history`` and its file.
        """
        result: dict[str, Any] = {"success": False, "model_id": model_id, "reason": reason}
        try:
            any_prod, prod = self._production_for_rollback(model_id)
            if not any_prod:
                result["error"] = "No production model found"
                return result
            if prod is None:
                result["error"] = f"Model {model_id} is not in production"
                return result
            if to_version:
                to_metrics = self._version_metrics(model_id, to_version)
                if to_metrics is None:
                    result["error"] = f"Version {to_version} not found"
                    return result
                target = to_version
            else:
                cand = self.get_rollback_candidate(model_id)
                if cand is None:
                    result["error"] = "No rollback candidate found"
                    return result
                target, to_metrics = cand["version"], dict(cand.get("metrics") or {})
        except mreg.Error as e:
            result["error"] = str(e)
            return result
        from_version, from_metrics = prod["version"], prod["metrics"]
        try:
            if self._reg is not None:
                done = self._reg.rollback(model_id, to=target, reason=reason, trigger=triggered_by)
            else:
                to_metrics = self._promote_back(model_id, target, reason)
        except Exception as e:
            self._history.append(RollbackEvent(model_id=model_id, from_version=from_version, to_version=target,
                                               reason=reason, triggered_by=triggered_by, timestamp=_now_iso(),
                                               success=False, error_message=str(e)))
            self._save_history()
            result["error"] = str(e)
            return result
        if self._reg is not None:
            if done.get("from_version") != from_version:  # another writer moved production meanwhile
                from_version = done.get("from_version")
                from_metrics = self._version_metrics(model_id, from_version) or {}
            self._merge_log()
        else:
            self._history.append(RollbackEvent(model_id=model_id, from_version=from_version, to_version=target,
                                               reason=reason, triggered_by=triggered_by, timestamp=_now_iso(),
                                               from_metrics=from_metrics, to_metrics=to_metrics))
        self._save_history()
        self._baselines.pop(model_id, None)
        self._emit_rollback_metric(model_id, triggered_by)
        result.update(success=True, from_version=from_version, to_version=target, from_metrics=from_metrics,
                      to_metrics=to_metrics)
        return result

    def _promote_back(self, model_id: str, version: int, reason: str) -> dict:
        """A registry without mreg: the original's three promotions; the target's metrics."""
        stage = _model_stage()
        target = self.registry.get_model(model_id, version)
        if _stage_value(target.stage) == "archived":
            self.registry.promote(model_id, version, stage.DEVELOPMENT, reason="Rollback: restoring from archive",
                                  promoted_by="rollback_manager")
        self.registry.promote(model_id, version, stage.STAGING, reason="Rollback: staging for production",
                              promoted_by="rollback_manager")
        self.registry.promote(model_id, version, stage.PRODUCTION, reason=f"Rollback: {reason}",
                              promoted_by="rollback_manager")
        return _metrics_dict(target.metrics)

    def rollback(self, model_id: str, reason: str = "Manual rollback", to_version: int | None = None) -> RollbackResult:
        """``rollback_model`` with triggered_by "training_coordinator", as a RollbackResult."""
        d = self.rollback_model(model_id, to_version=to_version, reason=reason, triggered_by="training_coordinator")
        return RollbackResult(success=d.get("success", False), rolled_back_to=d.get("to_version"),
                              from_version=d.get("from_version"), error=d.get("error"))

    # ---- the record, read -------------------------------------------------------

    def get_rollback_history(self, model_id: str | None = None, limit: int = 20) -> list[RollbackEvent]:
        """The events of ``_history`` (the log's new records merged first), newest first: the objects themselves."""
        self._merge_log()
        events = [e for e in self._history if not model_id or e.model_id == model_id]
        events.sort(key=lambda e: e.timestamp, reverse=True)
        return events[:limit]

    def get_rollback_stats(self) -> dict:
        """{total_rollbacks, successful, failed, by_trigger, recent_24h} over ``_history`` (the log merged first).

        An unparsable timestamp raises ValueError, as in the original.
        """
        self._merge_log()
        now = datetime.now()
        by_trigger: dict[str, int] = {}
        successful = recent = 0
        for e in self._history:
            successful += 1 if e.success else 0
            by_trigger[e.triggered_by] = by_trigger.get(e.triggered_by, 0) + 1
            if (now - datetime.fromisoformat(e.timestamp)).total_seconds() < 86400:
                recent += 1
        return {"total_rollbacks": len(self._history), "successful": successful,
                "failed": len(self._history) - successful, "by_trigger": by_trigger, "recent_24h": recent}


# ---- automatic rollbacks on regressions -------------------------------------------


class _BusRegression:
    """A regression event made from a bus payload (what on_regression reads)."""

    def __init__(self, model_id: str, severity: Any, reason: str, timestamp: Any, elo_drop: float,
                 payload: dict) -> None:
        self.model_id, self.severity, self.reason = model_id, severity, reason
        self.timestamp, self.elo_drop, self._payload = timestamp, elo_drop, payload

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "severity": _stage_value(self.severity), "reason": self.reason,
                "timestamp": self.timestamp, "elo_drop": self.elo_drop, "payload": dict(self._payload)}


class AutoRollbackHandler:
    """The original's policy for regressions: critical rolls back, severe waits for approval (or rolls back),
    moderate with an Elo drop over 30 rolls back, minor does nothing.

    Pending approvals are ``_pending_rollbacks`` (in memory, as the original's); with a registry through
    mreg, a severe regression's request is also written to the log (``Registry.regression``: ``mreg rollback
    pending`` shows it on every node; a rollback drops it), and clearing one here clears it there.
    """

    _event_subscribed: bool = False  # not set by the constructor: read with a default of False

    def __init__(self, rollback_manager: RollbackManager, auto_rollback_enabled: bool = True,
                 require_approval_for_severe: bool = True) -> None:
        self.rollback_manager = rollback_manager
        self.auto_rollback_enabled = auto_rollback_enabled
        self.require_approval_for_severe = require_approval_for_severe
        self._pending_rollbacks: dict[str, dict] = {}

    def _reg(self) -> mreg.Registry | None:
        return getattr(self.rollback_manager, "_reg", None)

    def on_regression(self, event: Any) -> None:
        """Apply the policy to a RegressionDetector's event (model_id, severity, reason, timestamp[, elo_drop])."""
        severity = _regression_detector().RegressionSeverity  # imported before the switch is read, as the original
        if not self.auto_rollback_enabled:
            logger.info("auto-rollback disabled: regression of %s (%s) not acted on", event.model_id,
                        getattr(event.severity, "name", event.severity))
            return
        sev = event.severity
        if sev == severity.CRITICAL:
            self._execute_rollback(event.model_id, reason=f"Auto-rollback: CRITICAL regression - {event.reason}",
                                   triggered_by="auto_regression_critical")
        elif sev == severity.SEVERE:
            if self.require_approval_for_severe:
                self._pending_rollbacks[event.model_id] = {"event": event.to_dict(), "timestamp": event.timestamp,
                                                           "reason": event.reason}
                self._request_in_log(event)
            else:
                self._execute_rollback(event.model_id, reason=f"Auto-rollback: SEVERE regression - {event.reason}",
                                       triggered_by="auto_regression_severe")
        elif sev == severity.MODERATE:
            elo_drop = getattr(event, "elo_drop", 0)
            if elo_drop > 30:
                self._execute_rollback(event.model_id,
                                       reason=f"Auto-rollback: MODERATE regression - {event.reason}",
                                       triggered_by="auto_regression_moderate")
            else:
                logger.info("moderate regression of %s (Elo drop %s): no rollback", event.model_id, elo_drop)

    def _request_in_log(self, event: Any) -> None:
        """Write a severe regression's request to the log, waiting for approval (best effort)."""
        reg = self._reg()
        if reg is None:
            return
        try:
            reg.regression(event.model_id, "severe", float(getattr(event, "elo_drop", 0) or 0),
                           reason=event.reason or None, require_approval=True)
        except (mreg.Error, TypeError, ValueError) as e:
            logger.warning("request to roll back %s kept in this process only: %s", event.model_id, e)

    def approve_pending_rollback(self, model_id: str) -> dict:
        """Carry out the waiting rollback (triggered_by "auto_regression_approved"); the rollback's dict."""
        pending = self._pending_rollbacks.get(model_id)
        if pending is None:
            return {"success": False, "error": f"No pending rollback for {model_id}"}
        reason = pending.get("reason") or "SEVERE regression - manual approval"
        result = self.rollback_manager.rollback_model(model_id=model_id, reason=f"Approved rollback: {reason}",
                                                      triggered_by="auto_regression_approved")
        if result.get("success"):
            self._pending_rollbacks.pop(model_id, None)
        return result

    def get_pending_rollbacks(self) -> dict[str, dict]:
        """The waiting rollbacks (a shallow copy)."""
        return dict(self._pending_rollbacks)

    def clear_pending_rollback(self, model_id: str) -> bool:
        """Drop a waiting rollback (and its request in the log); False when none was waiting here."""
        if model_id not in self._pending_rollbacks:
            return False
        del self._pending_rollbacks[model_id]
        reg = self._reg()
        if reg is not None:
            try:
                if model_id in reg.rollback_pending():
                    reg.rollback_clear(model_id, reason="Pending rollback cleared")
            except mreg.Error as e:
                logger.warning("request to roll back %s not cleared in the log: %s", model_id, e)
        return True

    # ---- the event bus ------------------------------------------------------------

    def subscribe_to_regression_events(self) -> bool:
        """Subscribe to REGRESSION_DETECTED/SEVERE/CRITICAL and ELO_SIGNIFICANT_CHANGE on the bus; False on error."""
        try:
            router = _event_router()
            bus = router.get_event_bus()
            types = router.DataEventType
            for t in (types.REGRESSION_DETECTED, types.REGRESSION_SEVERE, types.REGRESSION_CRITICAL):
                bus.subscribe(t, self._on_regression_event)
            bus.subscribe(types.ELO_SIGNIFICANT_CHANGE, self._on_elo_significant_change)
            self._event_subscribed = True
            return True
        except Exception as e:
            logger.warning("could not subscribe to regression events: %s", e)
            return False

    def unsubscribe_from_regression_events(self) -> None:
        """Unsubscribe the three regression types (the Elo subscription stays, as in the original)."""
        if not getattr(self, "_event_subscribed", False):
            return
        try:
            router = _event_router()
            bus = router.get_event_bus()
            types = router.DataEventType
            for t in (types.REGRESSION_DETECTED, types.REGRESSION_SEVERE, types.REGRESSION_CRITICAL):
                bus.unsubscribe(t, self._on_regression_event)
            self._event_subscribed = False
        except (ImportError, AttributeError, TypeError) as e:
            logger.warning("could not unsubscribe from regression events: %s", e)

    def _on_regression_event(self, event: Any) -> None:
        """A bus event as a regression: the severity from the event's type, else the payload's."""
        try:
            router = _event_router()
            severity = _regression_detector().RegressionSeverity
            payload = getattr(event, "payload", None)
            if payload is None:
                payload = event if isinstance(event, dict) else {}
            etype = getattr(event, "event_type", None)
            if etype == router.DataEventType.REGRESSION_CRITICAL:
                sev = severity.CRITICAL
            elif etype == router.DataEventType.REGRESSION_SEVERE:
                sev = severity.SEVERE
            else:
                sev = severity(str(payload.get("severity", "moderate")).lower())
            model_id = payload.get("model_id") or payload.get("config_key")
            if not model_id:
                return
            self.on_regression(_BusRegression(model_id, sev, payload.get("reason", ""),
                                              payload.get("timestamp", time.time()),
                                              float(payload.get("elo_drop", 0) or 0), payload))
        except Exception as e:
            logger.warning("regression event not handled: %s", e)

    def _on_elo_significant_change(self, event: Any) -> None:
        """An Elo drop below -50 on the bus: a pending rollback waiting for approval, unless one waits already."""
        try:
            payload = getattr(event, "payload", None)
            if payload is None:
                payload = event if isinstance(event, dict) else {}
            model_id = payload.get("model_id") or payload.get("config_key")
            delta = float(payload.get("elo_delta", 0) or 0)
            if model_id and delta < -50 and model_id not in self._pending_rollbacks:
                self._pending_rollbacks[model_id] = {"severity": "elo_drop",
                                                     "reason": f"Significant Elo drop: {delta:.1f}",
                                                     "elo_delta": delta, "detected_at": time.time(),
                                                     "auto_approved": False}
        except Exception as e:
            logger.warning("Elo change event not handled: %s", e)

    def _get_exploration_boost_factor(self, severity: str) -> float:
        """Selfplay exploration boost after a regression of this severity (a string; anything else 1.5)."""
        return {"critical": 2.0, "major": 1.75, "moderate": 1.5, "minor": 1.25}.get(severity, 1.5) \
            if isinstance(severity, str) else 1.5

    def _execute_rollback(self, model_id: str, reason: str, triggered_by: str) -> bool:
        """Roll back; on success drop the pending entry and emit PROMOTION_ROLLED_BACK. False on failure or error."""
        try:
            result = self.rollback_manager.rollback_model(model_id=model_id, reason=reason, triggered_by=triggered_by)
        except Exception as e:
            logger.error("rollback of %s failed: %s", model_id, e)
            return False
        if not result.get("success"):
            logger.warning("rollback of %s failed: %s", model_id, result.get("error"))
            return False
        self._pending_rollbacks.pop(model_id, None)
        self._emit_rollback_completed_event(model_id, result, triggered_by)
        return True

    def _emit_rollback_completed_event(self, model_id: str, result: dict, triggered_by: str) -> None:
        _emit_rolled_back(model_id, result, triggered_by, "auto_rollback_handler")


def _emit_rolled_back(model_id: str, result: dict, triggered_by: str, source: str) -> bool:
    """PROMOTION_ROLLED_BACK on the bus (safe_emit_event: never raises)."""
    try:
        router = _event_router()
        return router.safe_emit_event(router.DataEventType.PROMOTION_ROLLED_BACK,
                                      {"model_id": model_id, "from_version": result.get("from_version"),
                                       "to_version": result.get("to_version"), "reason": result.get("reason"),
                                       "triggered_by": triggered_by}, source=source)
    except Exception as e:
        logger.debug("PROMOTION_ROLLED_BACK not emitted: %s", e)
        return False


# ---- rollbacks on sustained low data quality --------------------------------------


class QualityRollbackWatcher:
    """Rolls back a config's model when data quality stays below a threshold long enough (in memory).

    Times come from the events' payloads (``timestamp``, else now), as in the original. The rollback does
    what the original meant (ORIGINAL-API §7): a successful one is counted, ends the tracking of its key
    and emits PROMOTION_ROLLED_BACK; a failed one keeps the tracking. Reports are not written to the
    registry's own quality watch (``Registry.quality_report``): that watch judges reports by its own
    clock and mreg.json's thresholds and rolls back by itself, so feeding it the same stream would make
    two judges of one stream, which could roll back twice or disagree; use it directly for the
    persistent, every-node watch.
    """

    CRITICAL_QUALITY_THRESHOLD = 0.3
    WARNING_QUALITY_THRESHOLD = 0.5
    SUSTAINED_LOW_QUALITY_MINUTES = 30

    def __init__(self, rollback_manager: RollbackManager, critical_threshold: float = 0.3,
                 sustained_minutes: float = 30) -> None:
        self.rollback_manager = rollback_manager
        self.critical_threshold = critical_threshold
        self.sustained_minutes = sustained_minutes
        self._low_quality_start: dict[str, float] = {}
        self._subscribed = False
        self._rollbacks_triggered = 0

    def subscribe_to_quality_events(self) -> bool:
        """Subscribe LOW_QUALITY_DATA_WARNING and HIGH_QUALITY_DATA_AVAILABLE; False without a bus or on error."""
        try:
            router = _event_router()
            bus = router.get_event_bus()
            if bus is None:
                return False
            bus.subscribe(router.DataEventType.LOW_QUALITY_DATA_WARNING, self._on_low_quality)
            bus.subscribe(router.DataEventType.HIGH_QUALITY_DATA_AVAILABLE, self._on_quality_recovered)
            self._subscribed = True
            return True
        except Exception as e:
            logger.warning("could not subscribe to quality events: %s", e)
            return False

    def get_stats(self) -> dict:
        """{subscribed, rollbacks_triggered, configs_being_monitored, critical_threshold, sustained_minutes}."""
        return {"subscribed": self._subscribed, "rollbacks_triggered": self._rollbacks_triggered,
                "configs_being_monitored": list(self._low_quality_start),
                "critical_threshold": self.critical_threshold, "sustained_minutes": self.sustained_minutes}

    @staticmethod
    def _payload(event: Any) -> dict:
        if hasattr(event, "payload"):
            return event.payload
        return event if isinstance(event, dict) else {}

    def _on_low_quality(self, event: Any) -> None:
        """A quality report: below the threshold starts the tracking, or rolls back once it lasted long enough."""
        try:
            payload = self._payload(event)
            quality = payload.get("quality_score", 1.0)
            key = payload.get("config_key", "all")
            ts = payload.get("timestamp", time.time())
            if quality < self.critical_threshold:
                start = self._low_quality_start.get(key)
                if start is None:
                    self._low_quality_start[key] = ts
                else:
                    minutes = (ts - start) / 60
                    if minutes >= self.sustained_minutes:
                        self._trigger_quality_rollback(key, quality, minutes)
        except Exception as e:
            logger.warning("quality event not handled: %s", e)

    def _on_quality_recovered(self, event: Any) -> None:
        """Quality is back: stop tracking the config."""
        try:
            self._low_quality_start.pop(self._payload(event).get("config_key", "all"), None)
        except Exception as e:
            logger.warning("quality event not handled: %s", e)

    def _trigger_quality_rollback(self, config_key: str, quality: float, minutes: float) -> bool:
        """Roll back the config's model; on success count it, stop tracking the key and emit the event."""
        result = self.rollback_manager.rollback_model(
            model_id=config_key, reason=f"Sustained low quality ({quality:.3f}) for {minutes:.1f} minutes")
        if not result.get("success"):
            logger.warning("quality rollback of %s failed: %s", config_key, result.get("error"))
            return False
        self._rollbacks_triggered += 1
        self._low_quality_start.pop(config_key, None)
        _emit_rolled_back(config_key, result, result.get("triggered_by", "manual"), "quality_rollback_watcher")
        return True


# ---- module functions ---------------------------------------------------------------


def create_rollback_alert_rules() -> str:
    """The original's Prometheus alert rules, as YAML text (also deploy/prometheus/mreg-alerts.yml)."""
    return """groups:
  - name: model_rollback_alerts
    rules:
      - alert: ModelRollbackTriggered
        expr: increase(ringrift_model_rollbacks_total[1h]) > 0
        for: 0m
        labels:
          severity: warning
        annotations:
          summary: "Model rollback triggered for {{ $labels.model_id }}"
          description: "{{ $labels.model_id }} was rolled back ({{ $labels.trigger }}) within the last hour."
      - alert: MultipleRollbacksDetected
        expr: increase(ringrift_model_rollbacks_total[24h]) > 2
        for: 0m
        labels:
          severity: critical
        annotations:
          summary: "Multiple rollbacks of {{ $labels.model_id }}"
          description: "{{ $labels.model_id }} was rolled back more than twice in 24 hours; training may be unstable."
      - alert: EloDegradation
        expr: ringrift_production_model_elo - ringrift_production_model_baseline_elo < -50
        for: 30m
        labels:
          severity: warning
        annotations:
          summary: "Elo of {{ $labels.model_id }} is more than 50 below its baseline"
          description: "The production version of {{ $labels.model_id }} has been over 50 Elo below its baseline for 30 minutes."
"""


def get_rollback_manager() -> RollbackManager | None:
    """The module's manager: None until initialize_rollback_manager or wire_regression_to_rollback."""
    return _rollback_manager


def initialize_rollback_manager(registry: Any) -> RollbackManager:
    """Make the module's manager on ``registry`` unless there is one (then ``registry`` is ignored)."""
    global _rollback_manager
    if _rollback_manager is None:
        _rollback_manager = RollbackManager(registry)
    return _rollback_manager


def wire_regression_to_rollback(registry: Any, auto_rollback_enabled: bool = True,
                                require_approval_for_severe: bool = True,
                                subscribe_to_events: bool = True) -> AutoRollbackHandler:
    """A new module manager and handler, the handler a listener of the regression detector (and of the bus)."""
    global _rollback_manager, _auto_handler
    try:
        _rollback_manager = RollbackManager(registry)
        handler = AutoRollbackHandler(_rollback_manager, auto_rollback_enabled=auto_rollback_enabled,
                                      require_approval_for_severe=require_approval_for_severe)
        _auto_handler = handler
        _regression_detector().get_regression_detector().add_listener(handler)
        if subscribe_to_events:
            handler.subscribe_to_regression_events()
        return handler
    except Exception as e:
        logger.error("could not wire regressions to rollbacks: %s", e)
        raise


def get_auto_rollback_handler() -> AutoRollbackHandler | None:
    """The module's handler, or None."""
    return _auto_handler


def wire_quality_to_rollback(registry: Any, critical_threshold: float = 0.3,
                             sustained_minutes: float = 30.0) -> QualityRollbackWatcher:
    """A watcher on a new manager (not the module's), subscribed to the quality events; the module's watcher."""
    global _quality_rollback_watcher
    watcher = QualityRollbackWatcher(RollbackManager(registry), critical_threshold=critical_threshold,
                                     sustained_minutes=sustained_minutes)
    watcher.subscribe_to_quality_events()
    _quality_rollback_watcher = watcher
    return watcher


def get_quality_rollback_watcher() -> QualityRollbackWatcher | None:
    """The module's watcher, or None."""
    return _quality_rollback_watcher
