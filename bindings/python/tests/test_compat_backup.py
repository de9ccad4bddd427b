"""mreg.compat.registry_backup: the original's backup manager over mreg's backups, on real registries."""

import dataclasses
import logging
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import mreg
from mreg.compat import registry_backup as rb

ID = re.compile(r"^\d{8}-\d{6}-\d{6}-\d{2}$")
META_KEYS = ["backup_id", "timestamp", "reason", "registry_path", "db_size_bytes", "db_hash", "model_count",
             "version_count", "source_host", "created_by"]


@pytest.fixture
def reg(regdir, model_file):
    """A registry with m:1 in production and m:2 in development."""
    r = mreg.Registry(regdir)
    r.register("m", model_file("a.pt"), stage="production")
    r.register("m", model_file("b.pt"))
    yield r
    r.close()


@pytest.fixture
def mgr(reg, regdir):
    return rb.RegistryBackupManager(Path(regdir))


@pytest.fixture
def backups(tmp_path):
    """mreg's backup directory for the regdir fixture: registry_backups/ beside it."""
    return tmp_path / "registry_backups"


# ---- module constants and BackupMetadata ----------------------------------------

def test_default_backup_dir_is_under_ai_service_root():
    assert rb.DEFAULT_BACKUP_DIR == rb.AI_SERVICE_ROOT / "data" / "registry_backups"
    assert rb.DEFAULT_BACKUP_DIR.is_absolute()


def test_metadata_fields_all_required():
    assert [f.name for f in dataclasses.fields(rb.BackupMetadata)] == META_KEYS
    with pytest.raises(TypeError):
        rb.BackupMetadata("id", "t", "r", "p", 1, "h", 1, 1, "host")


def test_metadata_to_dict_and_from_dict_round_trip():
    m = rb.BackupMetadata("i", "2025-01-01T00:00:00", "r", "/reg", 10, "xxh128:ab", 2, 3, "host", "me")
    d = m.to_dict()
    assert list(d) == META_KEYS and d["db_size_bytes"] == 10 and d["created_by"] == "me"
    assert rb.BackupMetadata.from_dict(dict(d, extra="ignored", bundle="x")) == m


def test_metadata_from_dict_missing_key_raises_type_error():
    d = rb.BackupMetadata("i", "t", "r", "p", 1, "h", 1, 1, "host", "me").to_dict()
    del d["db_hash"]
    with pytest.raises(TypeError):
        rb.BackupMetadata.from_dict(d)


# ---- the manager ----------------------------------------------------------------

def test_manager_attributes_and_defaults(mgr, regdir, backups):
    assert mgr.registry_path == Path(regdir)
    assert (mgr.max_backups, mgr.auto_backup_interval_hours) == (10, 24.0)
    assert mgr.backup_dir == backups and backups.is_dir()


def test_manager_takes_a_string_and_the_original_database_paths(reg, regdir, tmp_path):
    assert rb.RegistryBackupManager(regdir).registry_path == Path(regdir)
    path = rb.RegistryBackupManager(os.path.join(regdir, "registry.db")).create_backup()
    assert path is not None and path.parent == tmp_path / "registry_backups"
    # the sync manager's data/model_registry.db names the registry data/model_registry
    mreg.Registry(tmp_path / "data" / "model_registry").close()
    m = rb.RegistryBackupManager(tmp_path / "data" / "model_registry.db")
    assert m.create_backup().parent == tmp_path / "data" / "registry_backups"


def test_manager_without_a_registry(tmp_path):
    m = rb.RegistryBackupManager(tmp_path / "none" / "registry.db", backup_dir=tmp_path / "b")
    assert m.create_backup() is None
    assert m.list_backups() == [] and m.get_latest_backup() is None and m.get_backup("x") is None
    assert m.should_auto_backup() is True
    assert m.verify_backup("x") == {"backup_id": "x", "valid": False, "errors": ["Backup not found"]}
    assert m.cleanup_orphaned_backups() == 0
    assert not (tmp_path / "none").exists() and not (tmp_path / "b").exists()


def test_manager_sees_a_registry_made_after_it(tmp_path, model_file):
    m = rb.RegistryBackupManager(tmp_path / "late")
    assert m.create_backup() is None
    with mreg.Registry(tmp_path / "late") as r:
        r.register("m", model_file())
    assert m.create_backup() is not None


def test_backup_dir_elsewhere_is_not_used_and_warns(reg, regdir, tmp_path, backups, caplog):
    with caplog.at_level(logging.WARNING, logger=rb.__name__):
        m = rb.RegistryBackupManager(regdir, backup_dir=str(tmp_path / "elsewhere"))
    assert m.backup_dir == backups
    assert any("is not used" in r.getMessage() for r in caplog.records)
    assert m.create_backup().parent == backups
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=rb.__name__):
        rb.RegistryBackupManager(regdir, backup_dir=backups)
    assert caplog.records == []


# ---- create_backup --------------------------------------------------------------

def test_create_returns_the_bundle_path(mgr, backups):
    path = mgr.create_backup()
    assert isinstance(path, Path) and path.parent == backups and path.suffix == ".bundle"
    assert ID.match(path.stem)
    assert path.read_bytes().startswith(b"# v2 git bundle\n")
    assert (backups / (path.stem + ".json")).is_file()


def test_create_records_reason_and_counts(mgr, regdir):
    path = mgr.create_backup(reason="before training", created_by="trainer")
    b = mgr.get_backup(path.stem)
    assert (b.backup_id, b.reason, b.model_count, b.version_count) == (path.stem, "before training", 1, 2)
    assert b.db_size_bytes == path.stat().st_size
    assert re.match(r"^xxh128:[0-9a-f]{32}$", b.db_hash)
    assert b.source_host == os.uname().nodename
    assert Path(b.registry_path) == Path(regdir).resolve()


def test_create_default_reason(mgr):
    assert mgr.get_backup(mgr.create_backup().stem).reason == "Manual backup"


def test_created_by_is_the_registry_actor(mgr, reg):
    b = mgr.get_backup(mgr.create_backup(created_by="someone").stem)
    assert b.created_by == reg.history("m", 1)[0]["transitioned_by"]


def test_create_timestamp_is_naive_local_iso(mgr, reg, monkeypatch):
    monkeypatch.setenv("TZ", "XST-5:30")  # local time is UTC+05:30
    time.tzset()
    try:
        b = mgr.get_backup(mgr.create_backup().stem)
    finally:
        monkeypatch.undo()
        time.tzset()
    t = datetime.fromisoformat(b.timestamp)
    utc = datetime.fromisoformat(reg.backup_list()[0]["time"].rstrip("Z"))
    assert t.tzinfo is None and t - utc == timedelta(hours=5, minutes=30)


def test_backups_in_one_second_get_distinct_ids(mgr):
    ids = [mgr.create_backup().stem for _ in range(3)]
    assert len(set(ids)) == 3
    assert [b["backup_id"] for b in mgr.list_backups()] == ids[::-1]


def test_create_keeps_max_backups_newest(reg, regdir):
    m = rb.RegistryBackupManager(regdir, max_backups=2)
    ids = [m.create_backup().stem for _ in range(3)]
    assert [b["backup_id"] for b in m.list_backups()] == [ids[2], ids[1]]
    assert m.verify_backup(ids[2])["valid"] and m.get_backup(ids[0]) is None


def test_create_keeps_no_more_than_mreg_json_allows(reg, regdir):
    m = rb.RegistryBackupManager(regdir, max_backups=12)
    for _ in range(11):
        m.create_backup()
    assert len(m.list_backups()) == reg.policy()["backup"]["max_backups"] == 10


# ---- reading backups ------------------------------------------------------------

def test_list_backups_newest_first_as_dicts(mgr):
    a = mgr.create_backup("one").stem
    b = mgr.create_backup("two").stem
    got = mgr.list_backups()
    assert [x["backup_id"] for x in got] == [b, a]
    assert [x["reason"] for x in got] == ["two", "one"]
    assert all(list(x) == META_KEYS for x in got)


def test_every_manager_sees_every_backup(mgr, regdir):
    other = rb.RegistryBackupManager(regdir)
    path = other.create_backup()
    assert [b["backup_id"] for b in mgr.list_backups()] == [path.stem]


def test_get_backup_unknown_gives_none(mgr):
    mgr.create_backup()
    assert mgr.get_backup("20250101-000000-000000-00") is None
    assert mgr.get_backup("20250101_120000") is None  # an id of the original's form


def test_get_latest_backup(mgr):
    assert mgr.get_latest_backup() is None
    mgr.create_backup("a")
    newest = mgr.create_backup("b").stem
    latest = mgr.get_latest_backup()
    assert isinstance(latest, rb.BackupMetadata) and latest.backup_id == newest


def test_should_auto_backup(mgr, regdir):
    assert mgr.should_auto_backup() is True
    mgr.create_backup()
    assert mgr.should_auto_backup() is False
    assert rb.RegistryBackupManager(regdir, auto_backup_interval_hours=0).should_auto_backup() is True


def test_backup_stats_empty_shape(mgr):
    assert mgr.get_backup_stats() == {"total_backups": 0, "oldest_backup": None, "newest_backup": None,
                                      "total_size_bytes": 0}


def test_backup_stats(mgr):
    a, b = mgr.create_backup(), mgr.create_backup()
    s = mgr.get_backup_stats()
    size = a.stat().st_size + b.stat().st_size
    assert s == {"total_backups": 2, "oldest_backup": a.stem, "oldest_timestamp": mgr.get_backup(a.stem).timestamp,
                 "newest_backup": b.stem, "newest_timestamp": mgr.get_backup(b.stem).timestamp,
                 "total_size_bytes": size, "total_size_mb": size / 1048576}


# ---- verify_backup --------------------------------------------------------------

def test_verify_a_good_backup(mgr):
    i = mgr.create_backup().stem
    assert mgr.verify_backup(i) == {"backup_id": i, "valid": True, "errors": []}


def test_verify_unknown_backup(mgr):
    assert mgr.verify_backup("20250101-000000-000000-00") == \
        {"backup_id": "20250101-000000-000000-00", "valid": False, "errors": ["Backup not found"]}


def test_verify_hash_mismatch(mgr):
    path = mgr.create_backup()
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(data)
    r = mgr.verify_backup(path.stem)
    expected = mgr.get_backup(path.stem).db_hash.split(":")[1][:16]
    assert r["valid"] is False and len(r["errors"]) == 1
    assert re.match(r"^Hash mismatch: expected %s\.\.\., got [0-9a-f]{16}\.\.\.$" % expected, r["errors"][0])


def test_verify_missing_bundle(mgr):
    path = mgr.create_backup()
    path.unlink()
    assert mgr.verify_backup(path.stem)["errors"] == ["Backup database file missing"]


# ---- restore_backup -------------------------------------------------------------

def test_restore_brings_back_the_backup_state(mgr, reg):
    i = mgr.create_backup().stem
    reg.promote("m", 2, "staging")
    reg.register("other", __file__)
    r = mgr.restore_backup(i)
    assert list(r) == ["success", "backup_id", "pre_restore_backup", "restored_models", "restored_versions"]
    assert (r["success"], r["backup_id"], r["restored_models"], r["restored_versions"]) == (True, i, 1, 2)
    assert reg.get("m", 2)["stage"] == "development" and reg.get("other") is None


def test_restore_takes_a_pre_restore_backup_that_undoes_it(mgr, reg):
    i = mgr.create_backup().stem
    reg.promote("m", 2, "staging")
    r = mgr.restore_backup(i)
    pre = Path(r["pre_restore_backup"])
    assert pre.is_file() and pre.parent == mgr.backup_dir and pre.suffix == ".bundle"
    assert [b["backup_id"] for b in mgr.list_backups()] == [pre.stem, i]
    assert mgr.restore_backup(pre.stem)["success"] is True
    assert reg.get("m", 2)["stage"] == "staging"


def test_restore_always_takes_the_pre_restore_backup(mgr):
    i = mgr.create_backup().stem
    r = mgr.restore_backup(i, create_pre_restore_backup=False)
    assert r["success"] is True and Path(r["pre_restore_backup"]).is_file()
    assert len(mgr.list_backups()) == 2


def test_restore_unknown_backup_fails_without_raising(mgr, reg):
    assert mgr.restore_backup("nope") == {"success": False, "backup_id": "nope",
                                          "error": "Backup verification failed: ['Backup not found']"}
    assert mgr.list_backups() == []


def test_restore_of_a_damaged_backup_leaves_the_registry(mgr, reg):
    path = mgr.create_backup()
    reg.promote("m", 2, "staging")
    data = bytearray(path.read_bytes())
    data[-30] ^= 1
    path.write_bytes(data)
    r = mgr.restore_backup(path.stem)
    assert r["success"] is False and r["error"].startswith("Backup verification failed: ['Hash mismatch: expected ")
    assert reg.get("m", 2)["stage"] == "staging"
    assert len(mgr.list_backups()) == 1  # no pre-restore backup


def test_restore_without_a_registry(tmp_path):
    m = rb.RegistryBackupManager(tmp_path / "none")
    assert m.restore_backup("x")["error"] == "Backup verification failed: ['Backup not found']"


# ---- cleanup_orphaned_backups ---------------------------------------------------

def test_cleanup_counts_orphaned_files(mgr, backups):
    keep = mgr.create_backup()
    gone = mgr.create_backup()
    (backups / (gone.stem + ".json")).unlink()  # as a killed backup leaves it: a bundle, no metadata
    assert mgr.cleanup_orphaned_backups() == 1
    assert not gone.exists() and keep.exists()
    assert mgr.cleanup_orphaned_backups() == 0


def test_cleanup_keeps_every_listed_backup(reg, regdir):
    m = rb.RegistryBackupManager(regdir, max_backups=1)
    m.max_backups = 10
    ids = [m.create_backup().stem for _ in range(3)]
    m.max_backups = 1
    assert m.cleanup_orphaned_backups() == 0
    assert [b["backup_id"] for b in m.list_backups()] == ids[::-1]


def test_cleanup_leaves_the_original_backup_directories(mgr, backups):
    mgr.create_backup()
    old = backups / "20250101_120000"
    old.mkdir()
    (old / "registry.db").write_bytes(b"SQLite format 3\x00")
    assert mgr.cleanup_orphaned_backups() == 0
    assert (old / "registry.db").exists()


# ---- module functions -----------------------------------------------------------

def test_backup_before_sync(reg, regdir, backups):
    path = rb.backup_before_sync(Path(regdir))
    assert path.parent == backups and path.is_file()
    assert rb.RegistryBackupManager(regdir).get_backup(path.stem).reason == "Pre-sync backup"


def test_backup_before_sync_without_a_registry(tmp_path):
    assert rb.backup_before_sync(tmp_path / "none") is None


def test_auto_backup_if_needed(reg, regdir):
    path = rb.auto_backup_if_needed(regdir)
    assert rb.RegistryBackupManager(regdir).get_backup(path.stem).reason == "Scheduled auto-backup"
    assert rb.auto_backup_if_needed(regdir) is None  # the newest is not 24 hours old
