"""The lifecycle through mreg.Registry: rollbacks, baselines, regressions, quality, comparisons, validation,
the auto-promoter, CMA-ES, backups and export; the same objects the CLI's --json prints."""

import json
import os

import pytest

import mreg


@pytest.fixture
def prod(regdir, model_file):
    """m:1 archived (Elo 1600), m:2 in production (Elo 1500, 100 games)."""
    reg = mreg.Registry(regdir)
    reg.register("m", model_file("a.pt"), stage="production", metrics={"elo": 1600})
    reg.register("m", model_file("b.pt"), stage="production", metrics={"elo": 1500, "games_played": 100})
    yield reg
    reg.close()


def test_rollback_check_then_rollback(prod):
    prod.baseline_set("m", metrics={"elo": 1600, "games_played": 10})
    c = prod.rollback_check("m", metrics={"games_played": 200})
    assert c == {"should_rollback": True, "reason": "Elo dropped by 100 (threshold: 50.0)",
                 "check": "Elo dropped by 100 (threshold: 50.0)"}
    plan = prod.rollback("m", dry_run=True)
    assert (plan["from_version"], plan["to_version"]) == (2, 1)
    assert prod.get("m", 2)["stage"] == "production"
    r = prod.rollback("m", reason="regressed", trigger="auto_check")
    assert r == {"success": True, "model_id": "m", "from_version": 2, "to_version": 1, "reason": "regressed",
                 "triggered_by": "auto_check"}
    assert prod.get("m", 1)["stage"] == "production"
    assert prod.baseline_get("m") is None  # a rollback drops the baseline, as the original's
    h = prod.rollback_history("m")
    assert [x["triggered_by"] for x in h] == ["auto_check"]
    s = prod.rollback_stats()
    assert (s["total_rollbacks"], s["successful"], s["failed"], s["by_trigger"], s["recent_24h"]) == \
        (1, 1, 0, {"auto_check": 1}, 1)


def test_rollback_of_nothing_is_refused(prod):
    with pytest.raises(mreg.NotFound):
        prod.rollback("nope")
    assert prod.rollback_check("nope") == {"should_rollback": False, "reason": "Model not in production",
                                           "check": None}


def test_regression_waits_then_is_approved(prod):
    r = prod.regression("m", "severe", 60, reason="drop")
    assert (r["action"], r["reason"]) == ("wait", "drop")
    assert list(prod.rollback_pending()) == ["m"]
    done = prod.rollback_approve("m")
    assert (done["to_version"], done["triggered_by"]) == (1, "auto_regression_approved")
    assert prod.rollback_pending() == {}
    with pytest.raises(mreg.NotFound, match="no pending rollback for 'm'"):
        prod.rollback_clear("m")


def test_named_baselines(prod):
    prod.baseline_set("m", metrics={"elo": 1500, "games_played": 10})
    b = prod.baseline_set("m", name="release", metrics={"elo": 1600, "games_played": 10})
    assert b["elo"] == 1600
    c = prod.rollback_check("m", metrics={"games_played": 200})
    assert c["reason"] == "Elo dropped by 100 (threshold: 50.0) (baseline 'release')"


def test_quality_report_and_watch(prod, regdir):
    q = prod.quality_report("m", 0.1, reason="bad games")
    assert (q["action"], q["quality"]["score"], q["quality"]["threshold"]) == ("none", 0.1, 0.3)
    assert q["quality"]["low_since"] is not None
    assert prod.get("m", 2)["stage"] == "production"
    with pytest.raises(mreg.Invalid):
        prod.quality_report("m", 1.5)


def test_compare_and_validation(prod, model_file):
    c = prod.compare(("m", 1), ("m", 2), games=20, a_wins=11, b_wins=8, draws=1, notes="x")
    assert (c["a_win_rate"], c["b_win_rate"], c["draw_rate"]) == (0.55, 0.4, 0.05)
    prod.register("p", model_file("p.pt"))
    v = prod.validation("p", 1, "queue", work_id="w1")
    assert (v["validation"]["status"], v["validation"]["work_id"]) == ("queued", "w1")
    with pytest.raises(mreg.TransitionRefused):
        prod.validation("p", 1, "queue", work_id="w2")


def test_auto_promote_one_step(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        reg.register("a", model_file(), metrics={"elo": 1500, "games_played": 60})
        assert reg.auto_promote("a", 1) == {"promoted": True, "stage": "staging",
                                            "reason": "Model meets staging criteria"}
        assert reg.auto_promote("a", 1) == {"promoted": False, "stage": None,
                                            "reason": "Insufficient games (60 < 100)"}


def test_cmaes_register(regdir, tmp_path):
    w = tmp_path / "w.json"
    w.write_text(json.dumps({"weights": {"material": 1.5}}))
    with mreg.Registry(regdir) as reg:
        r = reg.cmaes_register(w, "square8", 2, 0.7, 3)
        assert (r["model_id"], r["version"], r["stage"]) == ("heuristic_square8_2p", 1, "staging")
        v = reg.get("heuristic_square8_2p")
        assert "cmaes" in v["tags"] and v["metrics"]["win_rate"] == 0.7


def test_policy_has_every_default(regdir):
    with mreg.Registry(regdir) as reg:
        p = reg.policy()
    assert p["rollback"]["elo_drop_threshold"] == 50
    assert p["rollback"]["quality_critical_threshold"] == 0.3
    assert p["auto_promote"] == {"min_elo_improvement": 25, "min_games": 100}


def test_backup_and_restore(prod, tmp_path):
    b = prod.backup_create("before")
    assert b["reason"] == "before"
    assert [x["id"] for x in prod.backup_list()] == [b["id"]]
    assert prod.backup_verify(b["id"])["ok"] is True
    prod.promote("m", 2, "archived")
    prod.backup_restore(b["id"])
    assert prod.get("m", 2)["stage"] == "production"


def test_export_then_import(prod, tmp_path):
    meta = prod.export("m", 1, tmp_path / "out.pt")
    assert meta["model_id"] == "m" and os.path.exists(tmp_path / "out.json")
    v = prod.import_(tmp_path / "out.pt", model_id="copy")
    assert (v["model_id"], v["version"], v["stage"], v["metrics"]["elo"]) == ("copy", 1, "development", 1600)
    assert prod.fsck() == {"ok": True, "problems": []}


def test_fsck_reports_problems_as_its_answer(prod, regdir):
    path = os.path.join(regdir, "state", "models", "m.json")
    with open(path, "a") as f:
        f.write(" ")
    got = prod.fsck()
    assert got["ok"] is False
    assert got["problems"] == ["state file 'models/m.json' differs from the fold of HEAD (run 'mreg refresh')"]
