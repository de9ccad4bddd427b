"""mreg.compat.rollback_manager: the original's rollback manager, its handler, watcher and wiring, on real
registries; and the in-process event bus and regression detector it reaches through their module paths."""

import asyncio
import json
import os
import sys
import types
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import mreg
from mreg.compat import event_router, regression_detector
from mreg.compat import rollback_manager as rm
from mreg.compat.event_router import DataEvent, DataEventType
from mreg.compat.regression_detector import RegressionEvent, RegressionSeverity
from mreg.compat.rollback_manager import (AutoRollbackHandler, QualityRollbackWatcher, RollbackEvent,
                                          RollbackManager, RollbackResult, RollbackThresholds)


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Each test in its own directory (the default history path is ./data/...), with new singletons."""
    monkeypatch.chdir(tmp_path)
    event_router.reset_event_bus()
    regression_detector.reset_regression_detector()
    monkeypatch.setattr(rm, "_rollback_manager", None)
    monkeypatch.setattr(rm, "_auto_handler", None)
    monkeypatch.setattr(rm, "_quality_rollback_watcher", None)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as on a machine without it
    yield
    event_router.reset_event_bus()
    regression_detector.reset_regression_detector()


@pytest.fixture
def reg(regdir, model_file):
    """m:1 archived (Elo 1600), m:2 in production (Elo 1500, 100 games), m:3 in staging (Elo 1700)."""
    r = mreg.Registry(regdir)
    r.register("m", model_file("a.pt"), stage="production", metrics={"elo": 1600})
    r.register("m", model_file("b.pt"), stage="production", metrics={"elo": 1500, "games_played": 100})
    r.register("m", model_file("c.pt"), stage="staging", metrics={"elo": 1700})
    yield r
    r.close()


@pytest.fixture
def hist(tmp_path):
    return tmp_path / "hist" / "rollback_history.json"


@pytest.fixture
def mgr(reg, hist):
    return RollbackManager(reg, history_path=hist)


def stages(r, model="m"):
    return {v["version"]: v["stage"] for v in r.list(model_id=model)}


def nevents(r):
    return len(r.events())


class Recorder:
    """Collects the events published on the bus."""

    def __init__(self, *etypes):
        self.seen = []
        for t in etypes:
            event_router.get_event_bus().subscribe(t, self.seen.append)


# ---- dataclasses ---------------------------------------------------------------


def test_rollback_event_defaults_and_to_dict_has_all_ten_fields():
    e = RollbackEvent("m", 2, 1, "why", "manual", "2025-01-01T00:00:00")
    assert (e.from_metrics, e.to_metrics, e.success, e.error_message) == ({}, {}, True, None)
    assert e.to_dict() == {"model_id": "m", "from_version": 2, "to_version": 1, "reason": "why",
                           "triggered_by": "manual", "timestamp": "2025-01-01T00:00:00", "from_metrics": {},
                           "to_metrics": {}, "success": True, "error_message": None}
    assert RollbackEvent("a", 1, 1, "", "", "t").from_metrics is not e.from_metrics


def test_rollback_event_from_dict_round_trips_and_rejects_unknown_or_missing_keys():
    e = RollbackEvent("m", 2, 1, "why", "manual", "t", {"elo": 1}, {"elo": 2}, False, "boom")
    assert RollbackEvent.from_dict(e.to_dict()) == e
    with pytest.raises(TypeError):
        RollbackEvent.from_dict(dict(e.to_dict(), extra=1))
    d = e.to_dict()
    del d["reason"]
    with pytest.raises(TypeError):
        RollbackEvent.from_dict(d)


def test_rollback_thresholds_defaults():
    t = RollbackThresholds()
    assert (t.elo_drop_threshold, t.elo_drop_window_hours, t.win_rate_drop_threshold, t.error_rate_threshold,
            t.min_games_for_evaluation) == (50.0, 24.0, 0.10, 0.05, 50)


def test_rollback_result_defaults_and_no_dict_conversion():
    r = RollbackResult(True)
    assert (r.success, r.rolled_back_to, r.from_version, r.error) == (True, None, None, None)
    assert not hasattr(r, "to_dict") and not hasattr(RollbackResult, "from_dict")


def test_module_constants_and_singletons_start_empty():
    assert rm.ROLLBACK_HISTORY_PATH == Path("data") / "rollback_history.json"
    assert rm.get_rollback_manager() is None
    assert rm.get_auto_rollback_handler() is None
    assert rm.get_quality_rollback_watcher() is None


# ---- the manager: construction and history file --------------------------------


def test_manager_defaults_store_arguments_and_create_no_file(reg):
    m = RollbackManager(reg)
    assert m.registry is reg
    assert m.thresholds == RollbackThresholds()
    assert m.history_path == rm.ROLLBACK_HISTORY_PATH
    assert (m._history, m._baselines) == ([], {})
    assert not rm.ROLLBACK_HISTORY_PATH.exists()
    t = RollbackThresholds(elo_drop_threshold=5)
    assert RollbackManager(reg, thresholds=t).thresholds is t


def test_manager_accepts_a_registry_path_and_a_str_history_path(regdir, reg, hist):
    m = RollbackManager(regdir, history_path=str(hist))
    assert m.registry == regdir and m.history_path == hist
    assert m.rollback_model("m")["success"] is True
    assert stages(reg)[1] == "production"


@pytest.mark.parametrize("text", ["not json", '[{"model_id": "m"}]', '[{"bogus": 1}]'])
def test_bad_history_file_is_swallowed_and_history_stays_empty(reg, hist, text):
    hist.parent.mkdir(parents=True)
    hist.write_text(text)
    assert RollbackManager(reg, history_path=hist)._history == []


def test_history_file_of_the_original_is_loaded_at_construction(reg, hist):
    old = RollbackEvent("m", 3, 2, "old", "manual", "2024-05-01T10:00:00", success=False, error_message="x")
    hist.parent.mkdir(parents=True)
    hist.write_text(json.dumps([old.to_dict()]))
    m = RollbackManager(reg, history_path=hist)
    assert m._history == [old]
    assert m.get_rollback_history() == [old]


def test_save_history_writes_an_indented_list_and_load_history_reads_it(mgr, hist):
    e = RollbackEvent("x", 1, 2, "r", "manual", "2024-01-01T00:00:00")
    mgr._history.append(e)
    mgr._save_history()
    text = hist.read_text()
    assert json.loads(text) == [e.to_dict()] and "\n  " in text
    mgr._history = []
    mgr._load_history()
    assert mgr._history == [e]


def test_save_history_swallows_errors(reg, tmp_path):
    (tmp_path / "afile").write_text("")
    m = RollbackManager(reg, history_path=tmp_path / "afile" / "h.json")
    m._history.append(RollbackEvent("x", 1, 2, "r", "manual", "t"))
    m._save_history()  # the parent is a file: logged, not raised
    assert not (tmp_path / "afile" / "h.json").exists()


# ---- baselines and checks ------------------------------------------------------


def test_set_baseline_keeps_the_originals_snapshot_and_overwrites(mgr):
    mgr.set_baseline("m", {"elo": 1600, "win_rate": 0.6, "games_played": 10, "other": 1})
    b = mgr._baselines["m"]
    assert set(b) == {"timestamp", "elo", "win_rate", "games_played"}
    assert (b["elo"], b["win_rate"], b["games_played"]) == (1600, 0.6, 10)
    assert datetime.fromisoformat(b["timestamp"]).tzinfo is None
    mgr.set_baseline("m", {"elo": 1400})
    assert (mgr._baselines["m"]["elo"], mgr._baselines["m"]["win_rate"], mgr._baselines["m"]["games_played"]) == \
        (1400, None, 0)


def test_set_baseline_is_recorded_in_the_log_for_a_later_manager(reg, regdir, mgr, hist):
    mgr.set_baseline("m", {"elo": 1600, "win_rate": 0.6, "games_played": 10})
    assert (reg.baseline_get("m")["elo"], reg.baseline_get("m")["games_played"]) == (1600, 10)
    with mreg.Registry(regdir) as other:
        later = RollbackManager(other, history_path=hist)
        assert later._baselines == {}
        b = later.get_baseline("m")
        assert (b["elo"], b["win_rate"], b["games_played"]) == (1600, 0.6, 10)
        assert later.check_performance("m", {"elo": 1500, "games_played": 100}) == \
            (True, "Elo dropped by 100 (threshold: 50.0)")


def test_baseline_mreg_refuses_is_kept_in_memory(mgr, reg):
    mgr.set_baseline("ghost", {"elo": 1600})  # no production version, metrics not all given
    assert reg.baseline_get("ghost") is None
    assert mgr.get_baseline("ghost")["elo"] == 1600
    assert mgr.check_performance("ghost", {"elo": 1000, "games_played": 50})[0] is True


def test_get_baseline_is_none_without_one(mgr):
    assert mgr.get_baseline("m") is None


def test_check_performance_without_baseline(mgr):
    assert mgr.check_performance("m", {"elo": 1}) == (False, "No baseline set")


def test_check_performance_insufficient_games(mgr):
    mgr.set_baseline("m", {"elo": 1600, "games_played": 10})
    assert mgr.check_performance("m", {"elo": 1000, "games_played": 59}) == (False, "Insufficient games (49)")
    assert mgr.check_performance("m", {"elo": 1000}) == (False, "Insufficient games (-10)")


def test_check_performance_elo_drop_at_the_threshold_degrades(mgr):
    mgr.set_baseline("m", {"elo": 1600})
    assert mgr.check_performance("m", {"elo": 1550, "games_played": 50}) == \
        (True, "Elo dropped by 50 (threshold: 50.0)")
    assert mgr.check_performance("m", {"elo": 1551, "games_played": 50}) == \
        (False, "Performance within acceptable range")


def test_check_performance_win_rate_drop(mgr):
    mgr.set_baseline("m", {"elo": 1600, "win_rate": 0.6})
    assert mgr.check_performance("m", {"elo": 1600, "win_rate": 0.45, "games_played": 60}) == \
        (True, "Win rate dropped by 15.0% (threshold: 10.0%)")


def test_check_performance_skips_falsy_values(mgr):
    mgr.set_baseline("m", {"elo": 0, "win_rate": 0.9})
    assert mgr.check_performance("m", {"elo": -500, "win_rate": 0, "games_played": 60}) == \
        (False, "Performance within acceptable range")


def test_thresholds_are_the_managers_own(reg, hist):
    m = RollbackManager(reg, thresholds=RollbackThresholds(elo_drop_threshold=10, min_games_for_evaluation=0),
                        history_path=hist)
    m.set_baseline("m", {"elo": 1600})
    assert m.check_performance("m", {"elo": 1590}) == (True, "Elo dropped by 10 (threshold: 10)")


def test_a_baseline_written_into_baselines_is_used(mgr):
    mgr._baselines["m"] = {"timestamp": "t", "elo": 2000, "win_rate": None, "games_played": 0}
    assert mgr.should_rollback("m") == (True, "Elo dropped by 500 (threshold: 50.0)")


# ---- should_rollback and the candidate -----------------------------------------


def test_should_rollback_of_a_model_not_in_production(mgr):
    assert mgr.should_rollback("nope") == (False, "Model not in production")
    assert mgr.should_rollback("bad id!") == (False, "Model not in production")


def test_should_rollback_is_per_model_production(reg, mgr, model_file):
    """mreg: each model has its own production version (the original consulted the registry's one)."""
    reg.register("other", model_file("o.pt"), stage="production", metrics={"elo": 1})
    mgr.set_baseline("m", {"elo": 1600})
    assert mgr.should_rollback("m", {"elo": 1500, "games_played": 100}) == \
        (True, "Elo dropped by 100 (threshold: 50.0)")


def test_should_rollback_without_archived_versions(reg, mgr, model_file):
    reg.register("solo", model_file("s.pt"), stage="production", metrics={"elo": 1})
    mgr.set_baseline("solo", {"elo": 1600})
    assert mgr.should_rollback("solo", {"elo": 1, "games_played": 100}) == (False, "No rollback candidates available")


def test_should_rollback_uses_the_production_metrics_by_default(mgr):
    mgr.set_baseline("m", {"elo": 1600, "games_played": 0})
    assert mgr.should_rollback("m") == (True, "Elo dropped by 100 (threshold: 50.0)")


def test_should_rollback_discards_the_checks_reason_when_no_rollback(mgr):
    assert mgr.should_rollback("m") == (False, "No rollback needed")  # no baseline
    mgr.set_baseline("m", {"elo": 1600, "games_played": 90})
    assert mgr.should_rollback("m") == (False, "No rollback needed")  # insufficient games


def test_rollback_candidate_prefers_the_highest_archived_version_with_elo(reg, mgr, model_file, regdir):
    c = mgr.get_rollback_candidate("m")
    assert set(c) == {"model_id", "version", "name", "model_type", "stage", "file_path", "metrics", "updated_at"}
    assert (c["model_id"], c["version"], c["stage"], c["metrics"]["elo"]) == ("m", 1, "archived", 1600)
    assert os.path.isfile(c["file_path"])
    assert datetime.fromisoformat(c["updated_at"]).tzinfo is None
    reg.register("m", model_file("d.pt"), stage="production", metrics={"games_played": 5})  # v4; v2 archived
    reg.register("m", model_file("e.pt"), stage="production")  # v5; v4 (no Elo) archived
    assert mgr.get_rollback_candidate("m")["version"] == 2
    reg.register("n", model_file("n1.pt"), stage="production")
    reg.register("n", model_file("n2.pt"), stage="production")
    reg.register("n", model_file("n3.pt"), stage="production")
    assert mgr.get_rollback_candidate("n")["version"] == 2  # none has an Elo: the highest archived
    assert mgr.get_rollback_candidate("nope") is None


# ---- rollback_model --------------------------------------------------------------


def test_rollback_model_is_one_atomic_event_and_reports_the_originals_dict(reg, mgr, hist):
    mgr.set_baseline("m", {"elo": 1600})
    before = nevents(reg)
    r = mgr.rollback_model("m", reason="regressed")
    assert (r["success"], r["model_id"], r["reason"], r["from_version"], r["to_version"]) == \
        (True, "m", "regressed", 2, 1)
    assert (r["from_metrics"]["elo"], r["from_metrics"]["games_played"], r["to_metrics"]["elo"]) == (1500, 100, 1600)
    assert "error" not in r
    assert stages(reg) == {1: "production", 2: "archived", 3: "staging"}
    assert [e["type"] for e in reg.events()[before:]] == ["rollback"]
    assert "m" not in mgr._baselines and reg.baseline_get("m") is None
    (e,) = mgr._history
    assert (e.model_id, e.from_version, e.to_version, e.reason, e.triggered_by, e.success) == \
        ("m", 2, 1, "regressed", "manual", True)
    assert datetime.fromisoformat(e.timestamp).tzinfo is None
    assert e.to_metrics["elo"] == 1600
    assert [d["to_version"] for d in json.loads(hist.read_text())] == [1]


def test_rollback_model_to_a_given_version(reg, mgr, model_file):
    reg.register("m", model_file("d.pt"), stage="production", metrics={"elo": 1})  # v4; v2 archived
    r = mgr.rollback_model("m", to_version=1)
    assert (r["success"], r["from_version"], r["to_version"]) == (True, 4, 1)
    assert stages(reg)[1] == "production"


def test_rollback_model_to_version_zero_means_the_candidate(reg, mgr):
    assert mgr.rollback_model("m", to_version=0)["to_version"] == 1


@pytest.mark.parametrize("model,to,error", [
    ("nope", None, "Model nope is not in production"),
    ("m", 9, "Version 9 not found"),
    ("solo", None, "No rollback candidate found"),
])
def test_rollback_model_early_exits_record_nothing(reg, mgr, model_file, hist, model, to, error):
    reg.register("solo", model_file("s.pt"), stage="production")
    before = nevents(reg)
    assert mgr.rollback_model(model, to_version=to, reason="r") == \
        {"success": False, "model_id": model, "reason": "r", "error": error}
    assert (nevents(reg), mgr._history, hist.exists()) == (before, [], False)


def test_rollback_model_without_any_production_model(regdir, model_file, hist):
    with mreg.Registry(regdir) as r:
        r.register("m", model_file())
        m = RollbackManager(r, history_path=hist)
        assert m.rollback_model("m") == {"success": False, "model_id": "m", "reason": "Manual rollback",
                                         "error": "No production model found"}


def test_rollback_model_refused_by_mreg_is_a_failed_event_and_writes_nothing(reg, mgr, hist, regdir):
    """mreg rolls back only to an archived version (the original went on through staging)."""
    before, st = nevents(reg), stages(reg)
    r = mgr.rollback_model("m", to_version=3, reason="try")
    assert (r["success"], r["model_id"], r["reason"]) == (False, "m", "try")
    assert r["error"] == "cannot roll back 'm' to version 3: it is in staging, not archived"
    assert (nevents(reg), stages(reg)) == (before, st)
    (e,) = mgr._history
    assert (e.from_version, e.to_version, e.success, e.error_message, e.from_metrics, e.to_metrics) == \
        (2, 3, False, r["error"], {}, {})
    assert reg.rollback_history() == []
    with mreg.Registry(regdir) as other:  # the failed attempt survives in the history file
        assert RollbackManager(other, history_path=hist)._history == [e]


def test_rollback_reports_a_rollback_result_triggered_by_the_training_coordinator(reg, mgr):
    assert mgr.rollback("m", reason="x") == RollbackResult(success=True, rolled_back_to=1, from_version=2)
    assert reg.rollback_history()[0]["triggered_by"] == "training_coordinator"
    assert mgr.rollback("m", to_version=3) == RollbackResult(
        success=False, error="cannot roll back 'm' to version 3: it is in staging, not archived")


# ---- history and stats ---------------------------------------------------------------


def test_history_is_newest_first_filtered_limited_and_the_objects_themselves(reg, mgr, model_file):
    reg.register("n", model_file("n1.pt"), stage="production", metrics={"elo": 1})
    reg.register("n", model_file("n2.pt"), stage="production", metrics={"elo": 1})
    mgr.rollback_model("m", reason="first")
    mgr.rollback_model("n", reason="second")
    mgr.rollback_model("m", reason="third")
    h = mgr.get_rollback_history()
    assert [e.reason for e in h] == ["third", "second", "first"]
    assert [e.reason for e in mgr.get_rollback_history("m")] == ["third", "first"]
    assert [e.reason for e in mgr.get_rollback_history(limit=1)] == ["third"]
    assert all(any(x is e for e in mgr._history) for x in h)
    h[0].reason = "edited"
    assert mgr.get_rollback_history()[0].reason == "edited"


def test_history_sees_rollbacks_made_by_another_writer(reg, mgr, regdir):
    with mreg.Registry(regdir) as other:
        other.rollback("m", reason="elsewhere", trigger="auto_check")
    (e,) = mgr.get_rollback_history()
    assert (e.reason, e.triggered_by, e.from_version, e.to_version) == ("elsewhere", "auto_check", 2, 1)
    assert mgr.get_rollback_stats()["by_trigger"] == {"auto_check": 1}


def test_history_file_and_log_are_not_doubled(reg, mgr, hist, regdir):
    mgr.rollback_model("m")
    assert len(json.loads(hist.read_text())) == 1
    with mreg.Registry(regdir) as other:
        again = RollbackManager(other, history_path=hist)
        assert len(again._history) == 1 and len(again.get_rollback_history()) == 1


def test_history_replaced_by_the_caller_is_kept(mgr):
    mgr.rollback_model("m")
    mgr._history = []
    assert mgr.get_rollback_history() == []  # records already seen are not added again
    mgr._history.append(RollbackEvent("z", 1, 2, "mine", "manual", datetime.now().isoformat()))
    assert [e.reason for e in mgr.get_rollback_history()] == ["mine"]


def test_stats_count_successes_failures_triggers_and_the_last_day(reg, mgr):
    assert mgr.get_rollback_stats() == {"total_rollbacks": 0, "successful": 0, "failed": 0, "by_trigger": {},
                                        "recent_24h": 0}
    mgr.rollback_model("m")
    mgr.rollback_model("m", to_version=3)  # refused
    mgr._history.append(RollbackEvent("m", 1, 2, "old", "x", (datetime.now() - timedelta(days=2)).isoformat()))
    assert mgr.get_rollback_stats() == {"total_rollbacks": 3, "successful": 2, "failed": 1,
                                        "by_trigger": {"manual": 2, "x": 1}, "recent_24h": 2}


def test_stats_raise_value_error_on_an_unparsable_timestamp(mgr):
    mgr._history.append(RollbackEvent("m", 1, 2, "r", "manual", "yesterday"))
    with pytest.raises(ValueError):
        mgr.get_rollback_stats()


# ---- the Prometheus counter ------------------------------------------------------------


class FakeCounter:
    def __init__(self):
        self.calls = []

    def labels(self, **kw):
        self.calls.append(kw)
        return self

    def inc(self):
        self.calls.append("inc")


def fake_prometheus(monkeypatch, collectors):
    mod = types.ModuleType("prometheus_client")
    mod.REGISTRY = types.SimpleNamespace(_names_to_collectors=collectors)
    monkeypatch.setitem(sys.modules, "prometheus_client", mod)


def test_rollback_metric_is_skipped_silently_without_prometheus_client(mgr):
    mgr._emit_rollback_metric("m", "manual")  # prometheus_client is not importable here


def test_rollback_metric_increments_the_counter_when_prometheus_client_has_it(mgr, monkeypatch):
    c = FakeCounter()
    fake_prometheus(monkeypatch, {"ringrift_model_rollbacks_total": c})
    assert mgr.rollback_model("m", triggered_by="auto_x")["success"]
    assert c.calls == [{"model_id": "m", "trigger": "auto_x"}, "inc"]


def test_rollback_metric_never_raises(mgr, monkeypatch):
    fake_prometheus(monkeypatch, {})
    mgr._emit_rollback_metric("m", "manual")

    class Bad:
        def labels(self, **kw):
            raise ValueError("bad labels")

    fake_prometheus(monkeypatch, {"ringrift_model_rollbacks_total": Bad()})
    mgr._emit_rollback_metric("m", "manual")
    fake_prometheus(monkeypatch, None)  # AttributeError on .get
    mgr._emit_rollback_metric("m", "manual")


# ---- a registry without mreg (a test double of the original's registry) -----------------


class DuckVersion:
    def __init__(self, model_id, version, stage, elo):
        self.model_id, self.version, self.stage = model_id, version, stage
        self.metrics = types.SimpleNamespace(to_dict=lambda: {"elo": elo})


class DuckRegistry:
    """The four methods the original's manager uses, over a dict of versions."""

    def __init__(self):
        self.versions = {1: DuckVersion("d", 1, "archived", 1600), 2: DuckVersion("d", 2, "production", 1500)}
        self.promotions = []

    def _value(self, s):
        return getattr(s, "value", s)

    def get_production_model(self):
        return next((v for v in self.versions.values() if self._value(v.stage) == "production"), None)

    def list_models(self, stage=None):
        return [{"model_id": v.model_id, "version": v.version, "stage": self._value(v.stage),
                 "metrics": v.metrics.to_dict()} for v in self.versions.values()
                if stage is None or self._value(v.stage) == self._value(stage)]

    def get_model(self, model_id, version):
        return self.versions.get(version)

    def promote(self, model_id, version, stage, reason="", promoted_by="system"):
        self.promotions.append((version, self._value(stage), reason, promoted_by))
        if self._value(stage) == "production":
            for v in self.versions.values():
                if self._value(v.stage) == "production":
                    v.stage = "archived"
        self.versions[version].stage = self._value(stage)


def test_a_registry_without_mreg_is_rolled_back_by_the_originals_promotions(hist):
    d = DuckRegistry()
    m = RollbackManager(d, history_path=hist)
    assert m.should_rollback("d") == (False, "No rollback needed")
    r = m.rollback_model("d", reason="why")
    assert (r["success"], r["from_version"], r["to_version"], r["to_metrics"]) == (True, 2, 1, {"elo": 1600})
    assert d.promotions == [(1, "development", "Rollback: restoring from archive", "rollback_manager"),
                            (1, "staging", "Rollback: staging for production", "rollback_manager"),
                            (1, "production", "Rollback: why", "rollback_manager")]
    assert [e.success for e in m._history] == [True]


# ---- AutoRollbackHandler ------------------------------------------------------------------


def regression(sev, model="m", reason="drop", **kw):
    return RegressionEvent(model_id=model, severity=sev, reason=reason, timestamp=123.0, **kw)


def test_handler_stores_its_arguments_and_starts_unsubscribed(mgr):
    h = AutoRollbackHandler(mgr)
    assert (h.rollback_manager, h.auto_rollback_enabled, h.require_approval_for_severe) == (mgr, True, True)
    assert h._pending_rollbacks == {}
    assert "_event_subscribed" not in vars(h) and getattr(h, "_event_subscribed", False) is False
    h2 = AutoRollbackHandler(mgr, auto_rollback_enabled=False, require_approval_for_severe=False)
    assert (h2.auto_rollback_enabled, h2.require_approval_for_severe) == (False, False)


def test_critical_regression_rolls_back_and_emits_promotion_rolled_back(reg, mgr):
    seen = Recorder(DataEventType.PROMOTION_ROLLED_BACK).seen
    AutoRollbackHandler(mgr).on_regression(regression(RegressionSeverity.CRITICAL))
    (rec,) = reg.rollback_history()
    assert (rec["triggered_by"], rec["reason"]) == ("auto_regression_critical",
                                                    "Auto-rollback: CRITICAL regression - drop")
    assert stages(reg)[1] == "production"
    (ev,) = seen
    assert (ev.payload["model_id"], ev.payload["from_version"], ev.payload["to_version"]) == ("m", 2, 1)


def test_severe_regression_waits_for_approval_here_and_in_the_log(reg, mgr):
    h = AutoRollbackHandler(mgr)
    ev = regression(RegressionSeverity.SEVERE, elo_drop=70)
    h.on_regression(ev)
    assert h._pending_rollbacks == {"m": {"event": ev.to_dict(), "timestamp": 123.0, "reason": "drop"}}
    assert stages(reg)[2] == "production" and reg.rollback_history() == []
    assert reg.rollback_pending()["m"]["reason"] == "drop"


def test_severe_regression_without_approval_rolls_back(reg, mgr):
    h = AutoRollbackHandler(mgr, require_approval_for_severe=False)
    h.on_regression(regression(RegressionSeverity.SEVERE))
    assert (reg.rollback_history()[0]["triggered_by"], h._pending_rollbacks) == ("auto_regression_severe", {})


@pytest.mark.parametrize("kw,rolled", [({"elo_drop": 31}, True), ({"elo_drop": 30}, False), ({}, False)])
def test_moderate_regression_rolls_back_over_30_elo(reg, mgr, kw, rolled):
    ev = regression(RegressionSeverity.MODERATE, **kw)
    if not kw:
        ev = types.SimpleNamespace(model_id="m", severity=RegressionSeverity.MODERATE, reason="r", timestamp=1)
    AutoRollbackHandler(mgr).on_regression(ev)
    assert [r["triggered_by"] for r in reg.rollback_history()] == (["auto_regression_moderate"] if rolled else [])


def test_minor_regression_and_a_disabled_handler_do_nothing(reg, mgr):
    AutoRollbackHandler(mgr).on_regression(regression(RegressionSeverity.MINOR))
    off = AutoRollbackHandler(mgr, auto_rollback_enabled=False)
    off.on_regression(regression(RegressionSeverity.CRITICAL))
    off.on_regression(regression(RegressionSeverity.SEVERE))
    assert (reg.rollback_history(), off._pending_rollbacks, reg.rollback_pending()) == ([], {}, {})


def test_approve_without_a_pending_rollback(mgr):
    assert AutoRollbackHandler(mgr).approve_pending_rollback("m") == \
        {"success": False, "error": "No pending rollback for m"}


def test_approve_rolls_back_and_drops_the_request(reg, mgr):
    h = AutoRollbackHandler(mgr)
    h.on_regression(regression(RegressionSeverity.SEVERE, elo_drop=70))
    r = h.approve_pending_rollback("m")
    assert (r["success"], r["to_version"], r["reason"]) == (True, 1, "Approved rollback: drop")
    assert reg.rollback_history()[0]["triggered_by"] == "auto_regression_approved"
    assert (h._pending_rollbacks, reg.rollback_pending()) == ({}, {})


def test_approve_of_an_entry_without_reason_and_a_failed_approval_keeps_it(reg, mgr):
    h = AutoRollbackHandler(mgr)
    h._pending_rollbacks["m"] = {}
    assert h.approve_pending_rollback("m")["reason"] == "Approved rollback: SEVERE regression - manual approval"
    h._pending_rollbacks["solo"] = {"reason": "x"}
    r = h.approve_pending_rollback("solo")
    assert (r["success"], r["error"]) == (False, "Model solo is not in production")
    assert "solo" in h._pending_rollbacks


def test_pending_rollbacks_copy_and_clear(reg, mgr):
    h = AutoRollbackHandler(mgr)
    h.on_regression(regression(RegressionSeverity.SEVERE, elo_drop=70))
    p = h.get_pending_rollbacks()
    assert p == h._pending_rollbacks and p is not h._pending_rollbacks
    p.clear()
    assert "m" in h._pending_rollbacks
    assert h.clear_pending_rollback("m") is True
    assert (h._pending_rollbacks, reg.rollback_pending()) == ({}, {})
    assert h.clear_pending_rollback("m") is False


class RecordingBus:
    def __init__(self):
        self.calls = []

    def subscribe(self, t, fn):
        self.calls.append(("sub", t, fn.__name__))

    def unsubscribe(self, t, fn):
        self.calls.append(("unsub", t, fn.__name__))


def test_subscribe_looks_up_the_patched_bus_and_subscribes_four_types(mgr, monkeypatch):
    bus = RecordingBus()
    monkeypatch.setattr(event_router, "get_event_bus", lambda: bus)
    h = AutoRollbackHandler(mgr)
    assert h.subscribe_to_regression_events() is True and h._event_subscribed is True
    assert bus.calls == [("sub", DataEventType.REGRESSION_DETECTED, "_on_regression_event"),
                         ("sub", DataEventType.REGRESSION_SEVERE, "_on_regression_event"),
                         ("sub", DataEventType.REGRESSION_CRITICAL, "_on_regression_event"),
                         ("sub", DataEventType.ELO_SIGNIFICANT_CHANGE, "_on_elo_significant_change")]
    bus.calls.clear()
    h.unsubscribe_from_regression_events()
    assert [c[:2] for c in bus.calls] == [("unsub", DataEventType.REGRESSION_DETECTED),
                                          ("unsub", DataEventType.REGRESSION_SEVERE),
                                          ("unsub", DataEventType.REGRESSION_CRITICAL)]
    assert h._event_subscribed is False
    bus.calls.clear()
    h.unsubscribe_from_regression_events()  # not subscribed: nothing
    assert bus.calls == []


def test_subscribe_failures_give_false_and_unsubscribe_errors_keep_the_flag(mgr, monkeypatch):
    h = AutoRollbackHandler(mgr)
    monkeypatch.setattr(event_router, "get_event_bus", lambda: None)
    assert h.subscribe_to_regression_events() is False
    assert getattr(h, "_event_subscribed", False) is False
    h._event_subscribed = True
    h.unsubscribe_from_regression_events()  # None has no unsubscribe: swallowed
    assert h._event_subscribed is True


def test_regression_events_on_the_bus_reach_the_policy(reg, mgr):
    h = AutoRollbackHandler(mgr)
    assert h.subscribe_to_regression_events()
    bus = event_router.get_event_bus()
    bus.publish(DataEvent(DataEventType.REGRESSION_DETECTED, {"model_id": "m", "severity": "minor"}))
    assert reg.rollback_history() == []
    bus.publish(DataEvent(DataEventType.REGRESSION_CRITICAL, {"model_id": "m", "reason": "bus"}))
    assert reg.rollback_history()[0]["reason"] == "Auto-rollback: CRITICAL regression - bus"


def test_a_significant_elo_drop_on_the_bus_waits_for_approval(reg, mgr):
    h = AutoRollbackHandler(mgr)
    h.subscribe_to_regression_events()
    bus = event_router.get_event_bus()
    bus.publish(DataEvent(DataEventType.ELO_SIGNIFICANT_CHANGE, {"model_id": "m", "elo_delta": -40}))
    assert h._pending_rollbacks == {}
    bus.publish(DataEvent(DataEventType.ELO_SIGNIFICANT_CHANGE, {"model_id": "m", "elo_delta": -60.25}))
    p = h._pending_rollbacks["m"]
    assert (p["severity"], p["reason"], p["elo_delta"], p["auto_approved"]) == \
        ("elo_drop", "Significant Elo drop: -60.2", -60.25, False)
    assert h.approve_pending_rollback("m")["reason"] == "Approved rollback: Significant Elo drop: -60.2"


def test_exploration_boost_factor_by_severity(mgr):
    f = AutoRollbackHandler(mgr)._get_exploration_boost_factor
    assert [f(s) for s in ("critical", "major", "moderate", "minor", "other")] == [2.0, 1.75, 1.5, 1.25, 1.5]
    assert f(RegressionSeverity.CRITICAL) == 1.5


def test_execute_rollback_reports_and_drops_the_pending_entry(reg, mgr, model_file):
    reg.register("solo", model_file("s.pt"), stage="production")
    h = AutoRollbackHandler(mgr)
    h._pending_rollbacks["m"] = {"reason": "x"}
    assert h._execute_rollback("solo", "r", "auto_x") is False
    assert h._execute_rollback("m", "r", "auto_x") is True
    assert h._pending_rollbacks == {}


# ---- QualityRollbackWatcher -----------------------------------------------------------------


def low(key="m", q=0.1, ts=1000.0):
    return DataEvent(DataEventType.LOW_QUALITY_DATA_WARNING, {"quality_score": q, "config_key": key, "timestamp": ts})


def test_watcher_constants_defaults_and_stats(mgr):
    assert (QualityRollbackWatcher.CRITICAL_QUALITY_THRESHOLD, QualityRollbackWatcher.WARNING_QUALITY_THRESHOLD,
            QualityRollbackWatcher.SUSTAINED_LOW_QUALITY_MINUTES) == (0.3, 0.5, 30)
    w = QualityRollbackWatcher(mgr)
    assert (w.rollback_manager, w.critical_threshold, w.sustained_minutes) == (mgr, 0.3, 30)
    assert type(w.sustained_minutes) is int
    assert (w._low_quality_start, w._subscribed, w._rollbacks_triggered) == ({}, False, 0)
    assert w.get_stats() == {"subscribed": False, "rollbacks_triggered": 0, "configs_being_monitored": [],
                             "critical_threshold": 0.3, "sustained_minutes": 30}


def test_watcher_subscribes_through_the_patched_bus(mgr, monkeypatch):
    w = QualityRollbackWatcher(mgr)
    monkeypatch.setattr(event_router, "get_event_bus", lambda: None)
    assert w.subscribe_to_quality_events() is False and w._subscribed is False
    bus = RecordingBus()
    monkeypatch.setattr(event_router, "get_event_bus", lambda: bus)
    assert w.subscribe_to_quality_events() is True and w._subscribed is True
    assert bus.calls == [("sub", DataEventType.LOW_QUALITY_DATA_WARNING, "_on_low_quality"),
                         ("sub", DataEventType.HIGH_QUALITY_DATA_AVAILABLE, "_on_quality_recovered")]

    def boom():
        raise RuntimeError("no bus")

    monkeypatch.setattr(event_router, "get_event_bus", boom)
    assert QualityRollbackWatcher(mgr).subscribe_to_quality_events() is False


def test_low_quality_is_tracked_from_its_first_report(mgr):
    w = QualityRollbackWatcher(mgr)
    w._on_low_quality(low("a", 0.1, 1000.0))
    w._on_low_quality({"quality_score": 0.2, "config_key": "b", "timestamp": 5.0})  # a dict is its own payload
    w._on_low_quality(low("a", 0.1, 1100.0))  # still low: the start stays
    w._on_low_quality(low("a", 0.3, 1200.0))  # at the threshold: no change, tracking not cleared
    w._on_low_quality(object())  # no payload: quality 1.0
    assert w._low_quality_start == {"a": 1000.0, "b": 5.0}
    assert w.get_stats()["configs_being_monitored"] == ["a", "b"]


def test_low_quality_defaults_key_all_and_now(mgr):
    w = QualityRollbackWatcher(mgr)
    w._on_low_quality({"quality_score": 0.0})
    assert list(w._low_quality_start) == ["all"]
    assert abs(w._low_quality_start["all"] - datetime.now().timestamp()) < 3600


def test_sustained_low_quality_rolls_back_counts_clears_and_emits(reg, mgr):
    seen = Recorder(DataEventType.PROMOTION_ROLLED_BACK).seen
    w = QualityRollbackWatcher(mgr)
    before = nevents(reg)
    w._on_low_quality(low("m", 0.1, 1000.0))
    w._on_low_quality(low("m", 0.15, 1000.0 + 29.9 * 60))
    assert (w._rollbacks_triggered, nevents(reg)) == (0, before)  # the watcher writes no quality report
    w._on_low_quality(low("m", 0.15, 1000.0 + 31 * 60))
    (rec,) = reg.rollback_history()
    assert (rec["reason"], rec["triggered_by"]) == ("Sustained low quality (0.150) for 31.0 minutes", "manual")
    assert (w._rollbacks_triggered, w._low_quality_start) == (1, {})
    assert [e.payload["model_id"] for e in seen] == ["m"]


def test_a_failed_quality_rollback_is_not_counted_and_keeps_tracking(reg, mgr):
    w = QualityRollbackWatcher(mgr, sustained_minutes=0)
    w._on_low_quality(low("nope", 0.1, 1.0))
    w._on_low_quality(low("nope", 0.1, 2.0))
    assert (w._rollbacks_triggered, list(w._low_quality_start)) == (0, ["nope"])


def test_quality_recovered_ends_the_tracking_and_swallows_errors(mgr):
    w = QualityRollbackWatcher(mgr)
    w._on_low_quality(low("a"))
    w._on_low_quality({"quality_score": 0.1})
    w._on_quality_recovered(DataEvent(DataEventType.HIGH_QUALITY_DATA_AVAILABLE, {"config_key": "a"}))
    assert list(w._low_quality_start) == ["all"]
    w._on_quality_recovered({})
    assert w._low_quality_start == {}
    w._on_quality_recovered(types.SimpleNamespace(payload=None))  # raises inside: swallowed
    w._on_low_quality(types.SimpleNamespace(payload=None))


# ---- module functions ------------------------------------------------------------------------


def test_alert_rules_are_the_originals_three(regdir):
    y = rm.create_rollback_alert_rules()
    assert y.startswith("groups:\n") and "- name: model_rollback_alerts" in y
    alerts = [line.split(": ", 1)[1] for line in y.splitlines() if line.strip().startswith("- alert:")]
    assert alerts == ["ModelRollbackTriggered", "MultipleRollbacksDetected", "EloDegradation"]
    rules = y.split("- alert: ")[1:]
    assert [r.split("for: ")[1].split("\n")[0] for r in rules] == ["0m", "0m", "30m"]
    assert [r.split("severity: ")[1].split("\n")[0] for r in rules] == ["warning", "critical", "warning"]
    assert all("summary: " in r and "description: " in r for r in rules)
    assert "increase(ringrift_model_rollbacks_total[1h]) > 0" in rules[0]
    assert "increase(ringrift_model_rollbacks_total[24h]) > 2" in rules[1]
    assert "ringrift_production_model_elo - ringrift_production_model_baseline_elo < -50" in rules[2]


def test_initialize_rollback_manager_makes_the_singleton_once(reg):
    m = rm.initialize_rollback_manager(reg)
    assert rm.get_rollback_manager() is m and m.history_path == rm.ROLLBACK_HISTORY_PATH
    assert rm.initialize_rollback_manager(object()) is m


def test_wire_regression_to_rollback_replaces_the_manager_and_listens(reg):
    first = rm.initialize_rollback_manager(reg)
    h = rm.wire_regression_to_rollback(reg)
    assert rm.get_auto_rollback_handler() is h and rm.get_rollback_manager() is h.rollback_manager is not first
    assert h._event_subscribed is True
    assert regression_detector.get_regression_detector().listeners == [h]
    assert len(event_router.get_event_bus().handlers(DataEventType.REGRESSION_CRITICAL)) == 1
    regression_detector.get_regression_detector().notify_listeners(regression(RegressionSeverity.CRITICAL))
    assert reg.rollback_history()[0]["triggered_by"] == "auto_regression_critical"


def test_wire_regression_without_events_and_its_errors_raise(reg, monkeypatch):
    h = rm.wire_regression_to_rollback(reg, auto_rollback_enabled=False, require_approval_for_severe=False,
                                       subscribe_to_events=False)
    assert (h.auto_rollback_enabled, h.require_approval_for_severe) == (False, False)
    assert getattr(h, "_event_subscribed", False) is False
    assert event_router.get_event_bus().handlers(DataEventType.REGRESSION_CRITICAL) == []

    def boom():
        raise RuntimeError("no detector")

    monkeypatch.setattr(regression_detector, "get_regression_detector", boom)
    with pytest.raises(RuntimeError, match="no detector"):
        rm.wire_regression_to_rollback(reg)


def test_wire_quality_to_rollback_subscribes_a_watcher_on_its_own_manager(reg):
    w = rm.wire_quality_to_rollback(reg, critical_threshold=0.5, sustained_minutes=1.0)
    assert rm.get_quality_rollback_watcher() is w and rm.get_rollback_manager() is None
    assert (w.critical_threshold, w.sustained_minutes, w._subscribed) == (0.5, 1.0, True)
    assert rm.wire_quality_to_rollback(reg).sustained_minutes == 30.0
    bus = event_router.get_event_bus()
    for ts in (0.0, 90.0):
        bus.publish(low("m", 0.4, ts))
    assert (w._rollbacks_triggered, reg.rollback_history()[0]["to_version"]) == (1, 1)


# ---- the bus and the detector ------------------------------------------------------------------


def test_bus_calls_handlers_in_order_and_survives_a_raising_one():
    bus = event_router.get_event_bus()
    assert event_router.get_event_bus() is bus
    out = []

    def bad(e):
        raise RuntimeError("x")

    bus.subscribe(DataEventType.REGRESSION_DETECTED, lambda e: out.append(1))
    bus.subscribe(DataEventType.REGRESSION_DETECTED, bad)
    h2 = lambda e: out.append(e.payload["n"])  # noqa: E731
    bus.subscribe(DataEventType.REGRESSION_DETECTED, h2)
    bus.subscribe(DataEventType.REGRESSION_DETECTED, h2)
    assert bus.publish(DataEvent(DataEventType.REGRESSION_DETECTED, {"n": 2})) == 3
    assert out == [1, 2]
    assert bus.unsubscribe(DataEventType.REGRESSION_DETECTED, h2) is True
    assert bus.unsubscribe(DataEventType.REGRESSION_DETECTED, h2) is False
    assert bus.publish(DataEvent(DataEventType.ELO_SIGNIFICANT_CHANGE)) == 0


def test_bus_runs_coroutine_handlers():
    out = []

    async def h(e):
        out.append(e.event_type)

    event_router.get_event_bus().subscribe(DataEventType.PROMOTION_ROLLED_BACK, h)
    event_router.get_event_bus().publish(DataEvent(DataEventType.PROMOTION_ROLLED_BACK))
    assert out == [DataEventType.PROMOTION_ROLLED_BACK]

    async def inside_a_loop():
        event_router.get_event_bus().publish(DataEvent(DataEventType.PROMOTION_ROLLED_BACK))
        await asyncio.sleep(0)

    asyncio.run(inside_a_loop())
    assert len(out) == 2


def test_data_event_and_safe_emit_event_through_the_patched_bus(monkeypatch):
    e = DataEvent(DataEventType.LOW_QUALITY_DATA_WARNING)
    assert (e.payload, e.source, isinstance(e.timestamp, float)) == ({}, "", True)
    assert e.to_dict()["event_type"] == "low_quality_data_warning"
    got = []
    bus = event_router.EventBus()
    bus.subscribe(DataEventType.PROMOTION_ROLLED_BACK, got.append)
    monkeypatch.setattr(event_router, "get_event_bus", lambda: bus)
    assert event_router.safe_emit_event(DataEventType.PROMOTION_ROLLED_BACK, {"a": 1}, source="t") is True
    assert (got[0].payload, got[0].source) == ({"a": 1}, "t")
    monkeypatch.setattr(event_router, "get_event_bus", lambda: None)
    assert event_router.safe_emit_event(DataEventType.PROMOTION_ROLLED_BACK) is False


def test_regression_detector_listeners_and_severities():
    assert [s.value for s in RegressionSeverity] == ["minor", "moderate", "severe", "critical"]
    d = regression_detector.get_regression_detector()
    assert regression_detector.get_regression_detector() is d
    got = []
    listener = types.SimpleNamespace(on_regression=got.append)
    d.add_listener(listener)
    d.add_listener(listener)
    ev = regression(RegressionSeverity.SEVERE, elo_drop=5.0)
    assert d.notify_listeners(ev) == 1 and got == [ev]
    assert ev.to_dict() == {"model_id": "m", "severity": "severe", "reason": "drop", "timestamp": 123.0,
                            "elo_drop": 5.0, "details": {}}
    assert d.remove_listener(listener) is True and d.remove_listener(listener) is False


def test_rollback_metric_with_the_real_prometheus_client(mgr, monkeypatch):
    """Debian's python3-prometheus-client: callers patch prometheus_client.REGISTRY, so it must import,
    and a counter registered the original's way is incremented by a rollback."""
    monkeypatch.delitem(sys.modules, "prometheus_client")
    import prometheus_client

    registry = prometheus_client.CollectorRegistry()
    prometheus_client.Counter("ringrift_model_rollbacks", "Rollbacks", ["model_id", "trigger"],
                                        registry=registry)
    monkeypatch.setattr(prometheus_client, "REGISTRY", registry)
    assert mgr.rollback_model("m", triggered_by="auto_x")["success"]
    assert registry.get_sample_value("ringrift_model_rollbacks_total", {"model_id": "m", "trigger": "auto_x"}) == 1
