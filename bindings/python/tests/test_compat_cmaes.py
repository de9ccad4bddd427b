"""mreg.compat.cmaes_registry_integration: the original's CMA-ES functions on real registries."""

import dataclasses
import importlib
import json
import logging
import math
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import mreg
from mreg.compat import cmaes_registry_integration as cm

KEYS = ["model_id", "version", "name", "model_type", "stage", "file_path", "metrics", "updated_at"]


@pytest.fixture
def weights(tmp_path):
    """weights(values, name): a weights file holding {"weights": values}, its Path."""

    def make(values=None, name="w.json"):
        p = tmp_path / name
        p.write_text(json.dumps({"weights": values if values is not None else {"material": 1.5, "mobility": -0.25}}))
        return p

    return make


@pytest.fixture
def rd(regdir):
    return Path(regdir)


def version(rd, model_id, v=None):
    with mreg.Registry(rd, create=False) as reg:
        return reg.get(model_id, v)


def plain_heuristic(rd, path, model_id, metrics):
    """A heuristic version registered without cmaes_register (ids and metrics cmaes_register would not make)."""
    with mreg.Registry(rd) as reg:
        return reg.register("h", path, model_id=model_id, model_type="heuristic", metrics=metrics)


# ---- module constants -------------------------------------------------------

def test_default_registry_dir_is_under_ai_service_root():
    assert cm.DEFAULT_REGISTRY_DIR == cm.AI_SERVICE_ROOT / "data" / "model_registry"
    assert cm.DEFAULT_REGISTRY_DIR.is_absolute()


def test_ai_service_root_from_the_environment_else_the_current_directory(monkeypatch, tmp_path):
    """The rule of mreg.compat._common, which every compat module's default paths follow."""
    from mreg.compat import _common

    def reload_all():
        importlib.reload(_common)
        importlib.reload(cm)

    try:
        monkeypatch.setenv("AI_SERVICE_ROOT", str(tmp_path / "svc"))
        reload_all()
        assert cm.AI_SERVICE_ROOT == tmp_path / "svc"
        assert cm.DEFAULT_REGISTRY_DIR == tmp_path / "svc" / "data" / "model_registry"
        monkeypatch.delenv("AI_SERVICE_ROOT")
        monkeypatch.chdir(tmp_path)
        reload_all()
        assert cm.AI_SERVICE_ROOT == tmp_path
    finally:
        monkeypatch.undo()
        reload_all()


def test_there_is_no_load_heuristic_weights():
    assert not hasattr(cm, "load_heuristic_weights")


# ---- CMAESRunConfig ---------------------------------------------------------

def test_run_config_fields_and_defaults():
    c = cm.CMAESRunConfig(16, 0.5, 100, 20, "square8", 2)
    assert [f.name for f in dataclasses.fields(c)] == [
        "population_size", "sigma", "generations", "games_per_eval", "board_type", "num_players",
        "opponent_mode", "eval_mode", "seed", "run_id"]
    assert (c.opponent_mode, c.eval_mode, c.seed, c.run_id) == ("baseline-only", "sequential", None, None)
    with pytest.raises(TypeError):
        cm.CMAESRunConfig(16, 0.5, 100, 20, "square8")  # the first six are required


def test_run_config_to_dict_has_all_ten_fields():
    c = cm.CMAESRunConfig(16, 0.5, 100, 20, "hex8", 3, eval_mode="parallel", seed=7, run_id="r1")
    assert c.to_dict() == {"population_size": 16, "sigma": 0.5, "generations": 100, "games_per_eval": 20,
                           "board_type": "hex8", "num_players": 3, "opponent_mode": "baseline-only",
                           "eval_mode": "parallel", "seed": 7, "run_id": "r1"}
    assert not hasattr(cm.CMAESRunConfig, "from_dict")


# ---- register_cmaes_result --------------------------------------------------

def test_register_returns_id_and_version(rd, weights):
    assert cm.register_cmaes_result(weights(), "square8", 2, 0.6, 5, registry_dir=rd) == ("heuristic_square8_2p", 1)
    assert cm.register_cmaes_result(weights(), "square8", 2, 0.6, 6, registry_dir=str(rd)) == \
        ("heuristic_square8_2p", 2)


def test_register_missing_weights_raises_and_writes_nothing(rd, tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(FileNotFoundError) as e:
        cm.register_cmaes_result(missing, "square8", 2, 0.6, 5, registry_dir=rd)
    assert str(e.value) == "Weights file not found: %s" % missing
    assert not rd.exists()


def test_register_weights_not_json_raises_decode_error(rd, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(json.JSONDecodeError):
        cm.register_cmaes_result(bad, "square8", 2, 0.6, 5, registry_dir=rd)
    with mreg.Registry(rd, create=False) as reg:  # the registry was opened (created), nothing registered
        assert reg.list() == []


def test_register_records_name_description_type_tags(rd, weights):
    cm.register_cmaes_result(weights(), "hex8", 4, 0.65, 12, registry_dir=rd)
    v = version(rd, "heuristic_hex8_4p", 1)
    assert v["name"] == "CMA-ES Heuristic (hex8_4p)"
    assert v["description"] == "CMA-ES optimized heuristic weights for hex8_4p, fitness=0.6500"
    assert v["model_type"] == "heuristic"
    assert sorted(v["tags"]) == sorted(["board:hex8", "players:4", "generation:12", "cmaes"])
    assert v["validation"] is None  # a heuristic version gets no validation


def test_register_metrics_elo_from_fitness(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.7, 10, {"games_per_eval": 20}, registry_dir=rd)
    m = version(rd, "heuristic_square8_2p", 1)["metrics"]
    assert m["win_rate"] == 0.7
    assert m["elo"] == pytest.approx(-400 * math.log10(1 / 0.7 - 1))
    assert round(m["elo"], 2) == 147.19
    assert m["games_played"] == 200


def test_register_elo_none_outside_the_open_interval(rd, weights):
    for g, f in enumerate([0.01, 0.99, 0.0, 1.0, 0.5]):
        cm.register_cmaes_result(weights(), "square8", 2, f, g, registry_dir=rd, auto_promote=False)
    elos = [version(rd, "heuristic_square8_2p", n)["metrics"]["elo"] for n in range(1, 6)]
    assert elos[:4] == [None, None, None, None]
    assert elos[4] == 0


def test_register_games_played_zero_without_config(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 10, registry_dir=rd)
    assert version(rd, "heuristic_square8_2p")["metrics"]["games_played"] == 0


def test_register_training_config_with_run_settings(rd, weights):
    cfg = cm.CMAESRunConfig(16, 0.5, 100, 20, "square8", 2, seed=3, run_id="run-1").to_dict()
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 10, cfg, registry_dir=rd)
    tc = version(rd, "heuristic_square8_2p")["training_config"]
    assert (tc["optimizer"], tc["epochs"], tc["learning_rate"], tc["architecture"]) == ("cmaes", 10, 0.001, "resnet")
    assert tc["extra_config"] == {
        "optimizer_type": "cmaes", "final_fitness": 0.6, "final_generation": 10, "board_type": "square8",
        "num_players": 2, "cmaes_population_size": 16, "cmaes_sigma": 0.5, "cmaes_generations": 100,
        "cmaes_games_per_eval": 20, "cmaes_opponent_mode": "baseline-only", "cmaes_eval_mode": "sequential",
        "cmaes_run_id": "run-1"}  # no seed


def test_register_absent_config_keys_become_none(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 10, {"sigma": 0.3}, registry_dir=rd)
    ex = version(rd, "heuristic_square8_2p")["training_config"]["extra_config"]
    assert ex["cmaes_sigma"] == 0.3
    assert ex["cmaes_population_size"] is None and ex["cmaes_run_id"] is None


def test_register_empty_config_adds_no_cmaes_keys(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 10, {}, registry_dir=rd)
    ex = version(rd, "heuristic_square8_2p")["training_config"]["extra_config"]
    assert sorted(ex) == ["board_type", "final_fitness", "final_generation", "num_players", "optimizer_type"]


def test_register_first_run_goes_to_staging(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.7, 10, registry_dir=rd)
    v = version(rd, "heuristic_square8_2p", 1)
    assert v["stage"] == "staging"
    assert v["history"][-1]["reason"] == "Fitness improved from 0.0000 to 0.7000"
    assert v["history"][0]["to_stage"] == "development"


def test_register_improvement_must_exceed_the_best_by_the_margin(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.5, 1, registry_dir=rd)
    cm.register_cmaes_result(weights(), "square8", 2, 0.75, 2, registry_dir=rd, min_fitness_improvement=0.25)
    cm.register_cmaes_result(weights(), "square8", 2, 1.0, 3, registry_dir=rd, min_fitness_improvement=0.125)
    assert [version(rd, "heuristic_square8_2p", n)["stage"] for n in (1, 2, 3)] == \
        ["staging", "development", "staging"]
    assert version(rd, "heuristic_square8_2p", 3)["history"][-1]["reason"] == "Fitness improved from 0.7500 to 1.0000"


def test_register_best_is_over_all_earlier_versions(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.8, 1, registry_dir=rd, auto_promote=False)
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 2, registry_dir=rd)
    cm.register_cmaes_result(weights(), "square8", 2, 0.7, 3, registry_dir=rd)
    assert [version(rd, "heuristic_square8_2p", n)["stage"] for n in (1, 2, 3)] == ["development"] * 3


def test_register_without_auto_promote_stays_in_development(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.9, 1, registry_dir=rd, auto_promote=False)
    assert version(rd, "heuristic_square8_2p")["stage"] == "development"


def test_register_margin_above_one_never_promotes(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.9, 1, registry_dir=rd, min_fitness_improvement=5)
    assert version(rd, "heuristic_square8_2p")["stage"] == "development"


def test_register_margin_below_minus_one_promotes(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.9, 1, registry_dir=rd, auto_promote=False)
    cm.register_cmaes_result(weights(), "square8", 2, 0.1, 2, registry_dir=rd, min_fitness_improvement=-5)
    assert version(rd, "heuristic_square8_2p", 2)["stage"] == "staging"


def test_register_defaults_to_default_registry_dir(monkeypatch, rd, weights):
    monkeypatch.setattr(cm, "DEFAULT_REGISTRY_DIR", rd)
    assert cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1) == ("heuristic_square8_2p", 1)
    assert version(rd, "heuristic_square8_2p")["version"] == 1


@pytest.mark.parametrize("board,players,fitness,message", [
    ("hex_8", 2, 0.6, "invalid board 'hex_8'"),
    ("hex8", 1, 0.6, "invalid number of players 1"),
    ("hex8", 2, 1.5, "invalid 'fitness'"),
])
def test_register_refuses_what_mreg_does_not_register(rd, weights, board, players, fitness, message):
    with pytest.raises(mreg.Invalid, match=message) as e:
        cm.register_cmaes_result(weights(), board, players, fitness, 1, registry_dir=rd)
    assert isinstance(e.value, ValueError)
    with mreg.Registry(rd, create=False) as reg:
        assert reg.list() == []


# ---- get_best_heuristic_model ------------------------------------------------

def test_best_missing_registry_dir_gives_none_and_creates_nothing(tmp_path):
    where = tmp_path / "no" / "registry"
    assert cm.get_best_heuristic_model("square8", 2, where) is None
    assert cm.get_best_heuristic_model("square8", 2, where, stage="bogus") is None
    assert not (tmp_path / "no").exists()


def test_best_directory_without_a_registry_gives_none(tmp_path):
    (tmp_path / "plain").mkdir()
    assert cm.get_best_heuristic_model("square8", 2, tmp_path / "plain") is None
    assert cm.list_cmaes_runs(registry_dir=tmp_path / "plain") == []


def test_best_is_the_highest_win_rate(rd, weights):
    for g, f in enumerate([0.6, 0.8, 0.7]):
        cm.register_cmaes_result(weights(), "square8", 2, f, g, registry_dir=rd, auto_promote=False)
    best = cm.get_best_heuristic_model("square8", 2, rd)
    assert (best["version"], best["metrics"]["win_rate"]) == (2, 0.8)


def test_best_entry_has_the_list_models_keys(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)
    best = cm.get_best_heuristic_model("square8", 2, rd)
    assert list(best) == KEYS
    assert (best["model_id"], best["name"], best["model_type"], best["stage"]) == \
        ("heuristic_square8_2p", "CMA-ES Heuristic (square8_2p)", "heuristic", "staging")
    assert sorted(best["metrics"]) == sorted(["elo", "elo_uncertainty", "win_rate", "draw_rate", "games_played",
                                              "avg_move_time_ms", "policy_accuracy", "value_mse"])
    assert Path(best["file_path"]).is_file() and best["file_path"].startswith(str(rd))
    assert datetime.fromisoformat(best["updated_at"]).tzinfo is None


def test_best_updated_at_is_naive_local_time(rd, weights, monkeypatch):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)
    monkeypatch.setenv("TZ", "XST-5:30")  # local time is UTC+05:30
    time.tzset()
    try:
        best = cm.get_best_heuristic_model("square8", 2, rd)
    finally:
        monkeypatch.undo()
        time.tzset()
    utc = datetime.fromisoformat(version(rd, "heuristic_square8_2p")["updated_at"].rstrip("Z"))
    assert datetime.fromisoformat(best["updated_at"]) - utc == timedelta(hours=5, minutes=30)


def test_best_in_a_stage(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)  # staging
    cm.register_cmaes_result(weights(), "square8", 2, 0.9, 2, registry_dir=rd, auto_promote=False)
    assert cm.get_best_heuristic_model("square8", 2, rd, stage="staging")["version"] == 1
    assert cm.get_best_heuristic_model("square8", 2, rd, stage="development")["version"] == 2
    assert cm.get_best_heuristic_model("square8", 2, rd, stage="production") is None


def test_best_invalid_stage_raises_value_error(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)
    with pytest.raises(ValueError, match="^'prod' is not a valid ModelStage$"):
        cm.get_best_heuristic_model("square8", 2, rd, stage="prod")


def test_best_tie_goes_to_the_most_recently_changed(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd, auto_promote=False)
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 2, registry_dir=rd, auto_promote=False)
    assert cm.get_best_heuristic_model("square8", 2, rd)["version"] == 2
    with mreg.Registry(rd) as reg:
        reg.promote("heuristic_square8_2p", 1, "staging")  # version 1 changed last
    assert cm.get_best_heuristic_model("square8", 2, rd)["version"] == 1


def test_best_skips_no_win_rate_and_counts_zero(rd, weights, model_file):
    plain_heuristic(rd, model_file(), "heuristic_square8_2p", {"elo": 1000})
    assert cm.get_best_heuristic_model("square8", 2, rd) is None
    cm.register_cmaes_result(weights(), "square8", 2, 0.0, 1, registry_dir=rd)
    best = cm.get_best_heuristic_model("square8", 2, rd)
    assert (best["version"], best["metrics"]["win_rate"]) == (2, 0.0)


def test_best_only_of_its_own_id(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 3, 0.9, 1, registry_dir=rd)
    assert cm.get_best_heuristic_model("square8", 2, rd) is None
    assert cm.get_best_heuristic_model("square8", 3, rd)["model_id"] == "heuristic_square8_3p"


# ---- load_heuristic_weights_from_registry -------------------------------------

def test_load_weights_defaults_to_production(rd, weights):
    cm.register_cmaes_result(weights({"a": 1.0}), "square8", 2, 0.6, 1, registry_dir=rd)  # staging
    assert cm.load_heuristic_weights_from_registry("square8", 2, rd) is None
    assert cm.load_heuristic_weights_from_registry("square8", 2, rd, stage="staging") == {"a": 1.0}
    with mreg.Registry(rd) as reg:
        reg.promote("heuristic_square8_2p", 1, "production")
    assert cm.load_heuristic_weights_from_registry("square8", 2, rd) == {"a": 1.0}


def test_load_weights_any_stage_gives_the_best(rd, weights):
    cm.register_cmaes_result(weights({"a": 1.0}, "a.json"), "square8", 2, 0.6, 1, registry_dir=rd)
    cm.register_cmaes_result(weights({"b": 2.0}, "b.json"), "square8", 2, 0.9, 2, registry_dir=rd)
    cm.register_cmaes_result(weights({"c": 3.0}, "c.json"), "square8", 2, 0.7, 3, registry_dir=rd)
    assert cm.load_heuristic_weights_from_registry("square8", 2, rd, stage=None) == {"b": 2.0}


def test_load_weights_none_without_a_model(rd, tmp_path):
    assert cm.load_heuristic_weights_from_registry("square8", 2, rd, stage=None) is None
    assert cm.load_heuristic_weights_from_registry("square8", 2, tmp_path / "absent", stage=None) is None


def test_load_weights_none_without_a_weights_key(rd, tmp_path):
    w = tmp_path / "other.json"
    w.write_text(json.dumps({"params": [1, 2]}))
    cm.register_cmaes_result(w, "square8", 2, 0.6, 1, registry_dir=rd)
    assert cm.load_heuristic_weights_from_registry("square8", 2, rd, stage=None) is None


def test_load_weights_missing_file_warns_and_gives_none(rd, weights, caplog):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)
    os.unlink(cm.get_best_heuristic_model("square8", 2, rd)["file_path"])
    with caplog.at_level(logging.WARNING, logger=cm.__name__):
        assert cm.load_heuristic_weights_from_registry("square8", 2, rd, stage=None) is None
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_load_weights_stored_file_not_json_raises(rd, tmp_path):
    f = tmp_path / "h.bin"
    f.write_bytes(b"\x00 not json")
    plain_heuristic(rd, f, "heuristic_square8_2p", {"win_rate": 0.5})
    with pytest.raises(json.JSONDecodeError):
        cm.load_heuristic_weights_from_registry("square8", 2, rd, stage=None)


# ---- list_cmaes_runs ----------------------------------------------------------

def test_runs_missing_dir_gives_empty_and_creates_nothing(tmp_path):
    assert cm.list_cmaes_runs(registry_dir=tmp_path / "absent") == []
    assert not (tmp_path / "absent").exists()


def test_runs_one_entry_per_version_newest_first(rd, weights):
    for g in range(3):
        cm.register_cmaes_result(weights(), "square8", 2, 0.5 + g / 10, g, registry_dir=rd, auto_promote=False)
    runs = cm.list_cmaes_runs(registry_dir=rd)
    assert [(r["model_id"], r["version"]) for r in runs] == [("heuristic_square8_2p", n) for n in (3, 2, 1)]
    assert all(list(r) == KEYS for r in runs)


def test_runs_order_follows_the_latest_change(rd, weights):
    for g in range(3):
        cm.register_cmaes_result(weights(), "square8", 2, 0.5, g, registry_dir=rd, auto_promote=False)
    with mreg.Registry(rd) as reg:
        reg.promote("heuristic_square8_2p", 1, "staging")
    assert [r["version"] for r in cm.list_cmaes_runs(registry_dir=rd)] == [1, 3, 2]


def test_runs_limit(rd, weights):
    for g in range(4):
        cm.register_cmaes_result(weights(), "square8", 2, 0.5, g, registry_dir=rd, auto_promote=False)
    assert [r["version"] for r in cm.list_cmaes_runs(registry_dir=rd, limit=2)] == [4, 3]
    assert len(cm.list_cmaes_runs(registry_dir=rd)) == 4


def test_runs_default_limit_is_ten(rd, model_file):
    for n in range(12):
        plain_heuristic(rd, model_file(), "heuristic_square8_2p", {"win_rate": 0.5})
    assert len(cm.list_cmaes_runs(registry_dir=rd)) == 10


def test_runs_only_heuristic_versions(rd, weights, model_file):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)
    with mreg.Registry(rd) as reg:
        reg.register("net", model_file())
    assert [r["model_id"] for r in cm.list_cmaes_runs(registry_dir=rd)] == ["heuristic_square8_2p"]


def test_runs_filter_by_board_and_players(rd, weights):
    for board, n in [("square8", 2), ("square8", 3), ("hex8", 2)]:
        cm.register_cmaes_result(weights(), board, n, 0.6, 1, registry_dir=rd)
    ids = lambda **kw: sorted(r["model_id"] for r in cm.list_cmaes_runs(registry_dir=rd, **kw))
    assert ids(board_type="square8") == ["heuristic_square8_2p", "heuristic_square8_3p"]
    assert ids(num_players=2) == ["heuristic_hex8_2p", "heuristic_square8_2p"]
    assert ids(board_type="hex8", num_players=2) == ["heuristic_hex8_2p"]
    assert ids(board_type="hex8", num_players=3) == []


def test_runs_filter_splits_at_the_last_underscore(rd, model_file):
    for model_id in ["heuristic_hex_large_3p", "heuristic_odd", "heuristic_x_yp", "tuned_square8_2p"]:
        plain_heuristic(rd, model_file(), model_id, {"win_rate": 0.5})
    assert [r["model_id"] for r in cm.list_cmaes_runs("hex_large", registry_dir=rd)] == ["heuristic_hex_large_3p"]
    assert [r["model_id"] for r in cm.list_cmaes_runs(num_players=3, registry_dir=rd)] == ["heuristic_hex_large_3p"]
    assert len(cm.list_cmaes_runs(registry_dir=rd)) == 4  # without a filter nothing is dropped


def test_runs_registry_dir_may_be_a_string(rd, weights):
    cm.register_cmaes_result(weights(), "square8", 2, 0.6, 1, registry_dir=rd)
    runs = cm.list_cmaes_runs(registry_dir=str(rd))
    assert len(runs) == 1 and runs[0]["file_path"].startswith(str(rd))
