"""mreg.compat.model_registry: the original's model_registry API on an mreg registry (ORIGINAL-API.md §1)."""

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import fields
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

import pytest

import mreg
from mreg.compat import model_registry as mr
from mreg.compat.model_registry import (AutoPromoter, ModelMetrics, ModelRegistry, ModelStage, ModelType,
                                        ModelVersion, RegistryDatabase, TrainingConfig, ValidationStatus,
                                        get_model_registry, reset_model_registry)

DEV, STG, PROD, ARC, REJ = (ModelStage.DEVELOPMENT, ModelStage.STAGING, ModelStage.PRODUCTION, ModelStage.ARCHIVED,
                            ModelStage.REJECTED)


@pytest.fixture
def registry(regdir):
    return ModelRegistry(Path(regdir))


@pytest.fixture
def pt(model_file):
    """pt(): a fresh model file, as a Path."""
    n = [0]

    def make(suffix=".pt"):
        n[0] += 1
        return Path(model_file("m%d%s" % (n[0], suffix)))

    return make


def count_events(registry):
    return len(registry.db._reg.events())


# ---- enums and records -----------------------------------------------------------


def test_enums_are_plain_enums_with_the_original_values_in_order():
    assert [(m.name, m.value) for m in ModelStage] == [
        ("DEVELOPMENT", "development"), ("STAGING", "staging"), ("PRODUCTION", "production"),
        ("ARCHIVED", "archived"), ("REJECTED", "rejected")]
    assert [m.value for m in ValidationStatus] == ["pending", "queued", "running", "passed", "failed", "skipped"]
    assert [m.value for m in ModelType] == ["policy_value", "ensemble", "compressed", "experimental", "heuristic"]
    for e in (ModelStage, ValidationStatus, ModelType):
        assert issubclass(e, Enum) and not issubclass(e, str)


def test_unknown_stage_or_type_value_raises_value_error():
    with pytest.raises(ValueError):
        ModelStage("live")
    with pytest.raises(ValueError):
        ModelType("cnn")


def test_model_metrics_defaults_and_to_dict_keep_values():
    assert ModelMetrics().to_dict() == {"elo": None, "elo_uncertainty": None, "win_rate": None, "draw_rate": None,
                                        "games_played": 0, "avg_move_time_ms": None, "policy_accuracy": None,
                                        "value_mse": None}
    d = ModelMetrics(elo=1500).to_dict()
    assert list(d) == [f.name for f in fields(ModelMetrics)] and d["elo"] == 1500 and isinstance(d["elo"], int)


def test_model_metrics_from_dict_ignores_unknown_keys_and_leaves_input_alone():
    d = {"elo": 1600.0, "games_played": 12, "bogus": 1}
    m = ModelMetrics.from_dict(d)
    assert m == ModelMetrics(elo=1600.0, games_played=12)
    assert d == {"elo": 1600.0, "games_played": 12, "bogus": 1}


def test_training_config_defaults_with_a_new_extra_config_each():
    a, b = TrainingConfig(), TrainingConfig()
    assert (a.learning_rate, a.batch_size, a.epochs, a.optimizer, a.architecture, a.num_residual_blocks,
            a.num_filters, a.augmentation_enabled, a.curriculum_stage, a.parent_model_id,
            a.training_data_hash) == (0.001, 256, 100, "adam", "resnet", 10, 128, True, None, None, None)
    a.extra_config["x"] = 1
    assert b.extra_config == {}


def test_training_config_to_dict_has_all_twelve_keys_and_copies_extra_config():
    tc = TrainingConfig(extra_config={"nested": {"k": [1]}})
    d = tc.to_dict()
    assert list(d) == [f.name for f in fields(TrainingConfig)] and len(d) == 12
    d["extra_config"]["nested"]["k"].append(2)
    assert tc.extra_config == {"nested": {"k": [1]}}


def test_training_config_from_dict_merges_unknown_keys_into_extra_config():
    tc = TrainingConfig.from_dict({"epochs": 5, "extra_config": {"a": 1, "b": 1}, "b": 2, "c": 3})
    assert tc.epochs == 5 and tc.extra_config == {"a": 1, "b": 2, "c": 3}
    assert TrainingConfig.from_dict({}).extra_config == {}


def test_model_version_to_dict_in_field_order_with_values_and_iso_times():
    t = datetime(2025, 12, 29, 12, 0, 0, 123456)
    v = ModelVersion("m", 1, "M", ModelType.HEURISTIC, STG, t, t, "f", "h", 3, ModelMetrics(), TrainingConfig())
    d = v.to_dict()
    assert list(d) == ["model_id", "version", "name", "model_type", "stage", "created_at", "updated_at",
                       "file_path", "file_hash", "file_size_bytes", "metrics", "training_config", "description",
                       "tags"]
    assert (d["model_type"], d["stage"], d["created_at"]) == ("heuristic", "staging", "2025-12-29T12:00:00.123456")
    assert d["metrics"] == ModelMetrics().to_dict() and d["training_config"] == TrainingConfig().to_dict()
    assert (d["description"], d["tags"]) == ("", [])
    assert not hasattr(ModelVersion, "from_dict")


def test_module_has_no_all_and_a_logger_and_says_deprecated():
    assert not hasattr(mr, "__all__")
    assert isinstance(mr.logger, logging.Logger) and mr.logger.name == mr.__name__
    assert "deprecated" in mr.__doc__


# ---- register_model ---------------------------------------------------------------


@pytest.mark.parametrize("name,derived", [("Test Model", "test_model"),
                                          ("CMA-ES Heuristic (square8_2p)", "cma_es_heuristic_square8_2p"),
                                          ("Ünïcode Näme!", "ncode_nme")])  # mreg keeps ASCII only
def test_register_model_derives_the_id_from_the_name(registry, pt, name, derived):
    assert registry.register_model(name, pt()) == (derived, 1)


def test_register_model_uses_a_given_id_verbatim(registry, pt):
    assert registry.register_model("Whatever", pt(), model_id="Sq8.2p-x") == ("Sq8.2p-x", 1)
    with pytest.raises(ValueError, match="invalid model id"):
        registry.register_model("Whatever", pt(), model_id="../x")


def test_register_model_of_a_missing_file_raises_and_writes_nothing(registry, tmp_path):
    before = count_events(registry)
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError) as e:
        registry.register_model("m", str(missing))
    assert str(e.value) == "Model file not found: %s" % missing
    assert count_events(registry) == before and registry.list_models() == []


def test_register_model_numbers_versions_per_model(registry, pt):
    assert [registry.register_model("a", pt()) for _ in range(3)] == [("a", 1), ("a", 2), ("a", 3)]
    assert registry.register_model("b", pt()) == ("b", 1)


def test_first_registration_name_description_and_type_stick(registry, pt):
    registry.register_model("First", pt(), ModelType.HEURISTIC, "one", model_id="m")
    registry.register_model("Second", pt(), ModelType.ENSEMBLE, "two", model_id="m")
    m = registry.get_model("m")
    assert (m.version, m.name, m.description, m.model_type) == (2, "First", "one", ModelType.HEURISTIC)


def test_registered_file_is_stored_in_the_registry_with_its_sha256(registry, pt):
    src = pt(".pth")
    registry.register_model("m", src)
    m = registry.get_model("m", 1)
    assert os.path.exists(m.file_path) and Path(m.file_path).read_bytes() == src.read_bytes()
    assert Path(m.file_path).is_relative_to(registry.registry_dir) and m.file_path.endswith(".pth")
    assert m.file_hash == hashlib.sha256(src.read_bytes()).hexdigest()
    assert m.file_size_bytes == src.stat().st_size


def test_register_model_stores_metrics_config_and_tags(registry, pt):
    registry.register_model("m", pt(), metrics=ModelMetrics(elo=1500, games_played=7),
                            training_config=TrainingConfig(epochs=3, extra_config={"seed": 1}), tags=["z", "a", "a"])
    m = registry.get_model("m")
    assert m.metrics == ModelMetrics(elo=1500, games_played=7)
    assert m.training_config == TrainingConfig(epochs=3, extra_config={"seed": 1})
    assert m.tags == ["a", "z"]
    registry.register_model("m", pt())
    m2 = registry.get_model("m")
    assert (m2.metrics, m2.training_config, m2.tags, m2.stage) == (ModelMetrics(), TrainingConfig(), [], DEV)


@pytest.mark.parametrize("kind,stage,pending", [(ModelType.POLICY_VALUE, DEV, True), (ModelType.POLICY_VALUE, STG, True),
                                                (ModelType.POLICY_VALUE, PROD, False),
                                                (ModelType.HEURISTIC, DEV, False)])
def test_policy_value_registrations_in_development_or_staging_get_a_pending_validation(registry, pt, kind, stage,
                                                                                       pending):
    registry.register_model("m", pt(), kind, initial_stage=stage)
    v = registry.get_validation("m", 1)
    if pending:
        assert (v["status"], v["baselines"], v["games_per_matchup"]) == ("pending", [], 50)
    else:
        assert v is None


def test_validation_follows_the_type_given_not_the_models(registry, pt):
    registry.register_model("m", pt(), ModelType.HEURISTIC)
    registry.register_model("m", pt(), ModelType.POLICY_VALUE)
    assert registry.get_model("m", 2).model_type == ModelType.HEURISTIC
    assert registry.get_validation_status("m", 2) == "pending"


def test_registering_into_production_archives_only_that_models_production(registry, pt):
    registry.register_model("other", pt(), initial_stage=PROD)
    registry.register_model("m", pt(), initial_stage=PROD)
    registry.register_model("m", pt(), initial_stage=PROD)
    assert registry.get_model("m", 1).stage == ARC
    assert registry.get_model("m", 2).stage == PROD
    assert registry.get_model("other", 1).stage == PROD


# ---- promote ------------------------------------------------------------------------

ALLOWED = {DEV: {STG, ARC, REJ}, STG: {PROD, DEV, ARC, REJ}, PROD: {ARC, STG}, ARC: {DEV}, REJ: {DEV}}


@pytest.mark.parametrize("frm", list(ModelStage))
def test_promote_follows_the_stage_table(registry, pt, frm):
    for to in ModelStage:
        mid, ver = registry.register_model("m", pt(), initial_stage=frm)
        if to in ALLOWED[frm]:
            assert registry.promote(mid, ver, to) is None
            assert registry.get_model(mid, ver).stage == to
        else:
            before = count_events(registry)
            with pytest.raises(ValueError) as e:
                registry.promote(mid, ver, to)
            assert str(e.value) == "Cannot transition from %s to %s" % (frm.value, to.value)
            assert count_events(registry) == before and registry.get_model(mid, ver).stage == frm


def test_promote_of_a_missing_version_raises(registry, pt):
    registry.register_model("m", pt())
    for mid, ver in (("m", 2), ("m", 0), ("nope", 1)):
        with pytest.raises(ValueError) as e:
            registry.promote(mid, ver, STG)
        assert str(e.value) == "Version %s:%s not found" % (mid, ver)


def test_promote_records_reason_and_promoted_by(registry, pt):
    registry.register_model("m", pt())
    registry.promote("m", 1, STG, "tests pass", "alice")
    registry.promote("m", 1, PROD)
    h = registry.get_stage_history("m", 1)
    assert len(h) == 3 and h[0]["to_stage"] == "development" and h[0]["from_stage"] is None
    assert h[0]["reason"] == "Initial registration"
    assert [(x["from_stage"], x["to_stage"], x["reason"], x["transitioned_by"]) for x in h[1:]] == [
        ("development", "staging", "tests pass", "alice"), ("staging", "production", "", "system")]


def test_promote_to_production_archives_that_models_production_only(registry, pt):
    for mid in ("other", "m", "m"):
        registry.register_model(mid, pt(), initial_stage=STG)
    registry.promote("other", 1, PROD)
    registry.promote("m", 1, PROD)
    registry.promote("m", 2, PROD, "better", "bob")
    assert [registry.get_model(*r).stage for r in (("m", 1), ("m", 2), ("other", 1))] == [ARC, PROD, PROD]
    last = registry.get_stage_history("m", 1)[-1]
    assert (last["from_stage"], last["to_stage"], last["reason"], last["transitioned_by"]) == (
        "production", "archived", "Replaced by m:v2", "bob")


# ---- reads ---------------------------------------------------------------------------


def test_get_model_returns_none_for_what_is_not_there(registry, pt):
    assert registry.get_model("m") is None
    registry.register_model("m", pt())
    for args in (("m", 2), ("m", 0), ("m", -1), ("no such id", None), ("nope", None)):
        assert registry.get_model(*args) is None


def test_get_model_defaults_to_the_highest_version(registry, pt):
    registry.register_model("m", pt())
    registry.register_model("m", pt())
    assert registry.get_model("m").version == 2 and registry.get_model("m", 1).version == 1


def test_times_are_naive_local_time(registry, pt, monkeypatch):
    registry.register_model("m", pt())
    utc = datetime.fromisoformat(registry.db._reg.get("m", 1)["created_at"]).replace(tzinfo=None)
    monkeypatch.setenv("TZ", "Etc/GMT+5")  # UTC-5
    time.tzset()
    try:
        m = registry.get_model("m", 1)
        assert m.created_at.tzinfo is None and m.updated_at.tzinfo is None
        assert m.created_at == utc - timedelta(hours=5)
        assert registry.db.get_version("m", 1)["created_at"] == (utc - timedelta(hours=5)).isoformat()
        assert datetime.now() - m.created_at >= timedelta(0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_update_metrics_replaces_them_and_moves_the_version_first(registry, pt):
    registry.register_model("m", pt(), metrics=ModelMetrics(elo=1500, win_rate=0.5))
    registry.register_model("m", pt())
    registry.update_metrics("m", 1, ModelMetrics(games_played=9))
    assert registry.get_model("m", 1).metrics == ModelMetrics(games_played=9)
    assert [(e["model_id"], e["version"]) for e in registry.list_models()] == [("m", 1), ("m", 2)]
    before = count_events(registry)
    registry.update_metrics("m", 7, ModelMetrics(elo=1))
    registry.update_metrics("nope", 1, ModelMetrics(elo=1))
    assert count_events(registry) == before


def test_get_production_model_is_the_latest_changed_across_models(registry, pt):
    assert registry.get_production_model() is None
    registry.register_model("a", pt(), ModelType.HEURISTIC, initial_stage=STG)
    registry.register_model("b", pt(), initial_stage=STG)
    registry.promote("a", 1, PROD)
    registry.promote("b", 1, PROD)
    assert registry.get_production_model().model_id == "b"
    assert registry.get_production_model(ModelType.HEURISTIC).model_id == "a"
    assert registry.get_production_model(ModelType.ENSEMBLE) is None


def test_list_models_one_entry_per_version_newest_change_first(registry, pt):
    assert registry.list_models() == []
    registry.register_model("a", pt(), ModelType.HEURISTIC)
    registry.register_model("b", pt())
    registry.register_model("a", pt())
    registry.promote("b", 1, STG)
    rows = registry.list_models()
    assert [(r["model_id"], r["version"]) for r in rows] == [("b", 1), ("a", 2), ("a", 1)]
    assert list(rows[0]) == ["model_id", "version", "name", "model_type", "stage", "file_path", "metrics",
                             "updated_at"]
    assert isinstance(rows[0]["updated_at"], str) and rows[0]["stage"] == "staging"
    assert [r["model_id"] for r in registry.list_models(stage=STG)] == ["b"]
    assert [(r["model_id"], r["version"]) for r in registry.list_models(model_type=ModelType.HEURISTIC)] == [
        ("a", 2), ("a", 1)]
    assert registry.list_models(stage=PROD) == []


def test_compare_models_rates_over_decided_games_and_records_it(registry, pt):
    registry.register_model("a", pt())
    registry.register_model("b", pt())
    r = registry.compare_models(("a", 1), ("b", 1), 25, 11, 8, 1, elo_diff=35.0, notes="n")
    assert r == {"model_a": "a:v1", "model_b": "b:v1", "games": 25, "a_win_rate": 0.55, "b_win_rate": 0.4,
                 "draw_rate": 0.05, "elo_diff": 35.0}
    row = registry.db.conn.execute("SELECT * FROM comparisons").fetchall()
    assert [tuple(x)[1:10] for x in row] == [("a", 1, "b", 1, 25, 11, 8, 1, 35.0)] and row[0]["notes"] == "n"


def test_compare_models_with_no_decided_games_gives_int_zero_rates(registry, pt):
    registry.register_model("a", pt())
    registry.register_model("b", pt())
    r = registry.compare_models(("a", 1), ("b", 1), 10, 0, 0, 0)
    assert (r["a_win_rate"], r["b_win_rate"], r["draw_rate"]) == (0, 0, 0)
    assert all(type(r[k]) is int for k in ("a_win_rate", "b_win_rate", "draw_rate"))


def test_compare_models_of_a_missing_version_answers_but_keeps_nothing(registry, pt, caplog):
    registry.register_model("a", pt())
    before = count_events(registry)
    with caplog.at_level(logging.WARNING, logger=mr.__name__):
        r = registry.compare_models(("a", 1), ("ghost", 3), 4, 2, 1, 1)
    assert r["model_b"] == "ghost:v3" and r["a_win_rate"] == 0.5
    assert count_events(registry) == before and "model not found: 'ghost'" in caplog.text


def test_add_tag_is_idempotent_and_search_by_tag_finds_it(registry, pt):
    registry.register_model("a", pt())
    registry.register_model("b", pt())
    registry.add_tag("a", 1, "best")
    before = count_events(registry)
    registry.add_tag("a", 1, "best")
    assert count_events(registry) == before
    found = registry.search_by_tag("best")
    assert len(found) == 1 and list(found[0]) == ["model_id", "version", "name", "stage", "file_path"]
    assert (found[0]["model_id"], found[0]["version"], found[0]["stage"]) == ("a", 1, "development")
    assert registry.search_by_tag("none") == []
    registry.add_tag("a", 9, "x")  # the original wrote an orphan row; mreg keeps nothing
    assert registry.search_by_tag("x") == []


def test_stage_history_of_a_missing_version_is_empty(registry):
    assert registry.get_stage_history("m", 1) == []


# ---- export and import -------------------------------------------------------------


def test_export_model_copies_the_file_and_writes_its_metadata(registry, pt, tmp_path):
    src = pt()
    registry.register_model("Sq 8", src, description="d", metrics=ModelMetrics(elo=1500), tags=["t"])
    dest = tmp_path / "out" / "model.bin"
    dest.parent.mkdir()
    assert registry.export_model("sq_8", 1, str(dest)) == dest
    assert dest.read_bytes() == src.read_bytes()
    meta = json.loads(dest.with_suffix(".json").read_text())
    assert meta == registry.get_model("sq_8", 1).to_dict()


def test_export_model_errors(registry, pt, tmp_path):
    with pytest.raises(ValueError) as e:
        registry.export_model("m", 1, tmp_path / "x.pt")
    assert str(e.value) == "Model m:v1 not found"
    registry.register_model("m", pt())
    with pytest.raises(FileNotFoundError):
        registry.export_model("m", 1, tmp_path / "no" / "dir" / "x.pt")


def test_import_model_reads_the_exported_metadata_as_a_new_development_version(registry, pt, tmp_path):
    registry.register_model("Sq 8", pt(), ModelType.ENSEMBLE, "d", ModelMetrics(elo=1500),
                            TrainingConfig(epochs=4), ["t"], initial_stage=PROD)
    dest = registry.export_model("sq_8", 1, tmp_path / "exported.pt")
    assert registry.import_model(dest) == ("sq_8", 2)
    m = registry.get_model("sq_8", 2)
    assert (m.stage, m.metrics.elo, m.training_config.epochs, m.tags, m.description) == (DEV, 1500, 4, ["t"], "d")
    assert registry.import_model(dest, model_id="copy") == ("copy", 1)
    c = registry.get_model("copy")
    assert (c.name, c.model_type) == ("Sq 8", ModelType.ENSEMBLE)


def test_import_model_without_metadata_uses_the_file_name(registry, pt):
    f = pt()
    assert registry.import_model(f) == (f.stem, 1)
    m = registry.get_model(f.stem)
    assert (m.name, m.model_type, m.description, m.tags) == (f.stem, ModelType.POLICY_VALUE, "", [])
    assert registry.import_model(f, model_id="named") == ("named", 1)
    assert registry.get_model("named").name == "named"


# ---- validations ---------------------------------------------------------------------


def test_validation_steps_through_the_registry_methods(registry, pt):
    registry.register_model("m", pt())
    registry.create_validation("m", 1, ["random", "greedy"], 20)
    v = registry.get_validation("m", 1)
    assert list(v) == ["model_id", "version", "status", "work_id", "baselines", "games_per_matchup", "results",
                       "started_at", "completed_at", "created_at", "updated_at"]
    assert (v["status"], v["baselines"], v["games_per_matchup"], v["results"]) == ("pending", ["random", "greedy"],
                                                                                     20, None)
    registry.set_validation_queued("m", 1, "work-7")
    assert (registry.get_validation_status("m", 1), registry.get_validation("m", 1)["work_id"]) == ("queued",
                                                                                                    "work-7")
    registry.set_validation_running("m", 1)
    assert registry.get_validation("m", 1)["started_at"] is not None
    registry.set_validation_passed("m", 1, {"win_rate": 0.7})
    v = registry.get_validation("m", 1)
    assert (v["status"], v["results"]) == ("passed", {"win_rate": 0.7}) and v["completed_at"] is not None
    assert v["updated_at"] >= v["created_at"]


def test_set_validation_failed_records_results(registry, pt):
    registry.register_model("m", pt())
    registry.set_validation_failed("m", 1, {"reason": "lost"})
    assert (registry.get_validation_status("m", 1), registry.get_validation("m", 1)["results"]) == (
        "failed", {"reason": "lost"})


def test_create_validation_resets_to_pending(registry, pt):
    registry.register_model("m", pt())
    registry.set_validation_failed("m", 1)
    registry.create_validation("m", 1)
    v = registry.get_validation("m", 1)
    assert (v["status"], v["baselines"], v["games_per_matchup"]) == ("pending", [], 50)


def test_validation_of_what_has_none_is_none_and_steps_are_no_ops(registry, pt):
    registry.register_model("h", pt(), ModelType.HEURISTIC)
    before = count_events(registry)
    registry.set_validation_running("h", 1)
    registry.set_validation_passed("nope", 1)
    assert count_events(registry) == before
    assert registry.get_validation("h", 1) is None and registry.get_validation_status("h", 1) is None
    assert registry.get_validation("nope", 2) is None


def test_validation_steps_out_of_order_or_unknown_are_refused(registry, pt):
    registry.register_model("m", pt())
    registry.set_validation_running("m", 1)
    with pytest.raises(ValueError, match="cannot queue the validation of 'm:1': it is running"):
        registry.set_validation_queued("m", 1, "w")
    with pytest.raises(ValueError) as e:
        registry.db.update_validation_status("m", 1, "skipped")
    assert str(e.value) == "Cannot set validation status skipped: mreg records pending, queued, running, passed, failed"


def test_models_needing_validation_and_unvalidated_models(registry, pt):
    registry.register_model("p", pt())
    registry.register_model("h", pt(), ModelType.HEURISTIC)
    registry.register_model("h", pt(), ModelType.HEURISTIC, initial_stage=STG)
    registry.register_model("h", pt(), ModelType.HEURISTIC, initial_stage=PROD)
    need = registry.get_models_needing_validation()
    assert [(r["model_id"], r["version"]) for r in need] == [("p", 1)]
    assert list(need[0]) == ["model_id", "version", "file_path", "stage", "name", "model_type", "validation_status",
                             "baselines", "games_per_matchup"]
    assert (need[0]["validation_status"], need[0]["baselines"], need[0]["games_per_matchup"]) == ("pending", [], 50)
    un = registry.get_unvalidated_models()
    assert [(r["model_id"], r["version"]) for r in un] == [("h", 2), ("h", 1)]
    assert list(un[0]) == ["model_id", "version", "file_path", "stage", "name", "model_type"]


# ---- RegistryDatabase ----------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    d = tmp_path / "dbdir"
    d.mkdir()
    return RegistryDatabase(d / "registry.db")


def test_database_keeps_db_path_and_needs_its_directory(tmp_path):
    with pytest.raises(sqlite3.OperationalError):
        RegistryDatabase(tmp_path / "missing" / "registry.db")
    d = tmp_path / "dbdir"
    d.mkdir()
    given = str(d / "registry.db")
    db = RegistryDatabase(given)
    assert db.db_path is given and not os.path.exists(given)
    assert mreg.Registry(str(d), create=False).status()["versions"] == 0
    RegistryDatabase(d / "registry.db")  # again: the same registry


def test_a_directory_of_the_original_registry_is_refused_with_the_way_in(tmp_path):
    old = tmp_path / "model_registry"
    old.mkdir()
    sqlite3.connect(old / "registry.db").close()
    with pytest.raises(ValueError) as e:
        ModelRegistry(old)
    assert str(e.value) == ("not a registry: '%s' holds the original's registry.db (move it into an mreg registry "
                            "with 'mreg -C NEWDIR migrate %s')" % (old, old / "registry.db"))
    assert os.listdir(old) == ["registry.db"]


def test_conn_has_the_original_schema_and_named_rows(db):
    names = {r["name"] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"models", "versions", "tags", "stage_transitions", "comparisons", "validations"} <= names
    cols = [r["name"] for r in db.conn.execute("PRAGMA table_info(versions)")]
    assert cols == ["id", "model_id", "version", "stage", "file_path", "file_hash", "file_size_bytes",
                    "metrics_json", "training_config_json", "created_at", "updated_at"]


def test_conn_follows_the_registry_and_refuses_writes(db, pt):
    conn = db.conn
    assert conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0
    db.create_model("m", "M", ModelType.HEURISTIC, "d")
    db.create_version("m", 1, DEV, str(pt()), "x", 0, ModelMetrics(elo=1), TrainingConfig())
    db.add_tag("m", 1, "t")
    db.update_stage("m", 1, STG, "r", "me")
    assert db.conn is conn
    row = conn.execute("SELECT * FROM models").fetchone()
    assert (row["model_id"], row["name"], row["description"], row["model_type"]) == ("m", "M", "d", "heuristic")
    v = conn.execute("SELECT * FROM versions").fetchone()
    assert (v["model_id"], v["version"], v["stage"], json.loads(v["metrics_json"])["elo"]) == ("m", 1, "staging", 1)
    assert os.path.exists(v["file_path"]) and v["file_hash"].startswith("xxh128:")
    assert [r["tag"] for r in conn.execute("SELECT tag FROM tags")] == ["t"]
    assert [(r["from_stage"], r["to_stage"], r["transitioned_by"]) for r in
            conn.execute("SELECT * FROM stage_transitions ORDER BY id")][1] == ("development", "staging", "me")
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM versions")


def test_conn_is_one_connection_per_thread(db):
    other = []
    t = threading.Thread(target=lambda: other.append(db.conn))
    t.start()
    t.join()
    assert other[0] is not db.conn


def test_create_model_then_model_exists_and_duplicates_fail(db, pt):
    assert not db.model_exists("m") and db.get_next_version("m") == 1
    db.create_model("m", "M", ModelType.ENSEMBLE)
    assert db.model_exists("m")
    assert db.conn.execute("SELECT model_type FROM models WHERE model_id='m'").fetchone()[0] == "ensemble"
    with pytest.raises(sqlite3.IntegrityError):
        db.create_model("m", "M", ModelType.ENSEMBLE)
    db.create_version("m", 1, STG, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    assert db.get_version("m", 1)["model_type"] == "ensemble" and db.get_next_version("m") == 2
    with pytest.raises(sqlite3.IntegrityError):
        db.create_model("m", "M", ModelType.ENSEMBLE)


def test_create_version_keeps_mregs_numbering(db, pt, tmp_path):
    db.create_version("m", 1, DEV, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    assert db.get_version("m", 1)["name"] == "m"
    with pytest.raises(sqlite3.IntegrityError):
        db.create_version("m", 1, DEV, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    with pytest.raises(ValueError) as e:
        db.create_version("m", 3, DEV, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    assert str(e.value) == "Cannot create version m:3: the next version of m is 2"
    with pytest.raises(FileNotFoundError) as e:
        db.create_version("m", 2, DEV, str(tmp_path / "gone.pt"), "", 0, ModelMetrics(), TrainingConfig())
    assert str(e.value) == "Model file not found: %s" % (tmp_path / "gone.pt")
    h = db.get_stage_history("m", 1)
    assert (h[0]["from_stage"], h[0]["to_stage"], h[0]["reason"]) == (None, "development", "Initial registration")


def test_update_stage_moves_as_mreg_allows(db, pt):
    with pytest.raises(ValueError) as e:
        db.update_stage("m", 1, STG)
    assert str(e.value) == "Version m:1 not found"
    db.create_version("m", 1, DEV, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    with pytest.raises(ValueError) as e:
        db.update_stage("m", 1, PROD)
    assert str(e.value) == "Cannot transition from development to production"
    db.update_stage("m", 1, DEV)  # already there: nothing written
    assert len(db.get_stage_history("m", 1)) == 1
    db.update_stage("m", 1, REJ, "bad", "carol")
    h = db.get_stage_history("m", 1)
    assert list(h[1]) == ["id", "model_id", "version", "from_stage", "to_stage", "reason", "transitioned_by",
                          "transitioned_at"]
    assert (h[1]["from_stage"], h[1]["to_stage"], h[1]["reason"], h[1]["transitioned_by"]) == (
        "development", "rejected", "bad", "carol")
    assert h[1]["id"] > h[0]["id"]


def test_database_reads_and_tags(db, pt):
    db.create_version("m", 1, PROD, str(pt()), "", 0, ModelMetrics(elo=3), TrainingConfig())
    db.add_tag("m", 1, "zeta")
    db.add_tag("m", 1, "alpha")
    db.add_tag("m", 1, "alpha")
    v = db.get_version("m", 1)
    assert list(v) == ["model_id", "version", "name", "description", "model_type", "stage", "file_path",
                       "file_hash", "file_size_bytes", "metrics", "training_config", "created_at", "updated_at",
                       "tags"]
    assert v["tags"] == ["alpha", "zeta"] and len(v["file_hash"]) == 64
    db.remove_tag("m", 1, "zeta")
    db.remove_tag("m", 1, "never")
    assert db.get_version("m", 1)["tags"] == ["alpha"] and db.get_version("m", 2) is None
    rows = db.get_versions_by_stage(PROD)
    assert [(r["model_id"], r["version"]) for r in rows] == [("m", 1)]
    assert list(rows[0]) == ["model_id", "version", "name", "model_type", "stage", "file_path", "metrics",
                             "updated_at"]
    latest = db.get_latest_production()
    assert list(latest) == ["model_id", "version", "name", "model_type", "file_path", "metrics"]
    assert latest["metrics"]["elo"] == 3
    assert db.get_latest_production(ModelType.HEURISTIC) is None
    db.update_metrics("m", 1, ModelMetrics(win_rate=0.5))
    assert db.get_version("m", 1)["metrics"] == ModelMetrics(win_rate=0.5).to_dict()


def test_record_comparison_is_kept_on_the_versions(db, pt):
    db.create_version("a", 1, DEV, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    db.create_version("b", 1, DEV, str(pt()), "", 0, ModelMetrics(), TrainingConfig())
    db.record_comparison("a", 1, "b", 1, 10, 6, 3, 1)
    rows = db.conn.execute("SELECT model_a_id, model_b_id, games_played, elo_diff FROM comparisons").fetchall()
    assert [tuple(r) for r in rows] == [("a", "b", 10, None)]


# ---- AutoPromoter ----------------------------------------------------------------------


class Criteria:
    min_elo_improvement = 10.0
    min_games_played = 8
    min_win_rate = 0.6


def test_auto_promoter_thresholds(registry):
    a = AutoPromoter(registry)
    assert (a.registry, a.min_elo_improvement, a.min_games, a.min_win_rate_vs_current,
            a.auto_archive_after_days) == (registry, 25.0, 100, 0.52, 30)
    a = AutoPromoter(registry, min_elo_improvement=5.0, min_games=10, min_win_rate_vs_current=0.7,
                     auto_archive_after_days=3)
    assert (a.min_elo_improvement, a.min_games, a.min_win_rate_vs_current, a.auto_archive_after_days) == (
        5.0, 10, 0.7, 3)
    a = AutoPromoter(registry, Criteria(), min_elo_improvement=99.0, min_games=99)
    assert (a.min_elo_improvement, a.min_games, a.min_win_rate_vs_current) == (10.0, 8, 0.6)


def test_evaluate_for_staging_checks_in_order(registry, pt):
    a = AutoPromoter(registry, min_games=11)
    assert a.evaluate_for_staging("m", 1) == (False, "Model not found")
    registry.register_model("m", pt(), initial_stage=STG)
    assert a.evaluate_for_staging("m", 1) == (False, "Model is in staging, not development")
    registry.register_model("m", pt(), metrics=ModelMetrics(games_played=4))
    assert a.evaluate_for_staging("m", 2) == (False, "Insufficient games (4 < 5)")
    registry.update_metrics("m", 2, ModelMetrics(games_played=5))
    assert a.evaluate_for_staging("m", 2) == (False, "No Elo rating available")
    registry.update_metrics("m", 2, ModelMetrics(games_played=5, elo=1200))
    assert a.evaluate_for_staging("m", 2) == (True, "Model meets staging criteria")


def test_evaluate_for_production_checks_in_order(registry, pt):
    a = AutoPromoter(registry)
    assert a.evaluate_for_production("m", 1) == (False, "Model not found")
    registry.register_model("m", pt())
    assert a.evaluate_for_production("m", 1) == (False, "Model is in development, not staging")
    registry.register_model("m", pt(), initial_stage=STG, metrics=ModelMetrics(games_played=99, elo=1600))
    assert a.evaluate_for_production("m", 2) == (False, "Insufficient games (99 < 100)")
    registry.update_metrics("m", 2, ModelMetrics(games_played=100, elo=1600))
    assert a.evaluate_for_production("m", 2) == (True, "No current production model")
    registry.register_model("m", pt(), initial_stage=PROD)
    assert a.evaluate_for_production("m", 2) == (False, "Cannot compare Elo ratings")
    registry.update_metrics("m", 3, ModelMetrics(elo=1580))
    assert a.evaluate_for_production("m", 2) == (False, "Elo improvement insufficient (20.0 < 25.0)")
    registry.update_metrics("m", 3, ModelMetrics(elo=1574.96))
    assert a.evaluate_for_production("m", 2) == (True, "Elo improved by 25.0")


def test_evaluate_for_production_compares_with_the_models_own_production(registry, pt):
    registry.register_model("other", pt(), initial_stage=PROD, metrics=ModelMetrics(elo=3000))
    registry.register_model("m", pt(), initial_stage=STG, metrics=ModelMetrics(games_played=100, elo=1600))
    assert AutoPromoter(registry).evaluate_for_production("m", 1) == (True, "No current production model")


def test_auto_promote_takes_one_step_at_a_time(registry, pt):
    a = AutoPromoter(registry)
    assert a.auto_promote("m", 1) is None
    registry.register_model("m", pt(), metrics=ModelMetrics(games_played=100, elo=1600))
    assert a.auto_promote("m", 1) == STG
    h = registry.get_stage_history("m", 1)[-1]
    assert (h["to_stage"], h["reason"], h["transitioned_by"]) == ("staging", "Model meets staging criteria",
                                                                   "auto_promoter")
    assert a.auto_promote("m", 1) == PROD
    assert registry.get_stage_history("m", 1)[-1]["reason"] == "No current production model"
    assert a.auto_promote("m", 1) is None
    registry.register_model("m", pt(), metrics=ModelMetrics(games_played=1))
    assert a.auto_promote("m", 2) is None and registry.get_model("m", 2).stage == DEV


# ---- the process-wide registry ---------------------------------------------------------


def test_get_model_registry_is_a_singleton_until_reset(tmp_path):
    reset_model_registry()
    try:
        first = get_model_registry(tmp_path / "one")
        assert get_model_registry(tmp_path / "two") is first and first.registry_dir == tmp_path / "one"
        reset_model_registry()
        second = get_model_registry(tmp_path / "two")
        assert second is not first and second.registry_dir == tmp_path / "two"
    finally:
        reset_model_registry()


def test_model_registry_layout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = ModelRegistry()
    assert ModelRegistry.DEFAULT_REGISTRY_DIR == Path("data/model_registry")
    assert r.registry_dir == Path("data/model_registry") and r.model_storage_dir == r.registry_dir / "models"
    assert r.model_storage_dir.is_dir() and r.db.db_path == r.registry_dir / "registry.db"
    s = ModelRegistry(str(tmp_path / "r2"), str(tmp_path / "store"))
    assert s.model_storage_dir == tmp_path / "store" and s.model_storage_dir.is_dir()
    mreg.Registry(str(tmp_path / "data/model_registry"), create=False).close()  # mreg's registry, where mreg looks
