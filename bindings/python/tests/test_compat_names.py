"""Every public name of the original's interface (its sections 1.1, 2.1, 3.1, 4.1, 5.1) and every
semi-private name of its checklist (section 6) is there in mreg.compat, of the kind the original's is."""

import dataclasses
import enum
import importlib
import inspect

import pytest

PUBLIC = {
    "model_registry": {
        "ModelStage": "enum", "ValidationStatus": "enum", "ModelType": "enum", "ModelMetrics": "dataclass",
        "TrainingConfig": "dataclass", "ModelVersion": "dataclass", "RegistryDatabase": "class",
        "ModelRegistry": "class", "AutoPromoter": "class", "get_model_registry": "function",
        "reset_model_registry": "function", "logger": "object",
    },
    "rollback_manager": {
        "ROLLBACK_HISTORY_PATH": "object", "RollbackEvent": "dataclass", "RollbackThresholds": "dataclass",
        "RollbackResult": "dataclass", "RollbackManager": "class", "AutoRollbackHandler": "class",
        "QualityRollbackWatcher": "class", "create_rollback_alert_rules": "function",
        "get_rollback_manager": "function", "initialize_rollback_manager": "function",
        "wire_regression_to_rollback": "function", "get_auto_rollback_handler": "function",
        "wire_quality_to_rollback": "function", "get_quality_rollback_watcher": "function",
    },
    "cmaes_registry_integration": {
        "DEFAULT_REGISTRY_DIR": "object", "CMAESRunConfig": "dataclass", "register_cmaes_result": "function",
        "get_best_heuristic_model": "function", "load_heuristic_weights_from_registry": "function",
        "list_cmaes_runs": "function",
    },
    "registry_backup": {
        "DEFAULT_BACKUP_DIR": "object", "BackupMetadata": "dataclass", "RegistryBackupManager": "class",
        "backup_before_sync": "function", "auto_backup_if_needed": "function",
    },
    "registry_sync_manager": {
        "DEFAULT_REGISTRY_PATH": "object", "SYNC_STATE_PATH": "object", "RegistrySyncState": "class",
        "SyncState": "class", "NodeInfo": "class", "RegistrySyncManager": "class",
        "DatabaseSyncManager": "class", "DatabaseSyncState": "class", "SyncNodeInfo": "class",
    },
}

# section 6: (module, class, attribute); attributes made by the constructor are checked on an instance
SEMI_PRIVATE = [
    ("model_registry", "RegistryDatabase", "conn"),
    ("rollback_manager", "RollbackManager", "_history"), ("rollback_manager", "RollbackManager", "_baselines"),
    ("rollback_manager", "RollbackManager", "_save_history"),
    ("rollback_manager", "RollbackManager", "_load_history"),
    ("rollback_manager", "RollbackManager", "_emit_rollback_metric"),
    ("rollback_manager", "AutoRollbackHandler", "_pending_rollbacks"),
    ("rollback_manager", "AutoRollbackHandler", "_get_exploration_boost_factor"),
    ("rollback_manager", "QualityRollbackWatcher", "_on_low_quality"),
    ("rollback_manager", "QualityRollbackWatcher", "_on_quality_recovered"),
    ("rollback_manager", "QualityRollbackWatcher", "_low_quality_start"),
    ("rollback_manager", "QualityRollbackWatcher", "_subscribed"),
    ("registry_sync_manager", "RegistrySyncManager", "_update_local_stats"),
    ("registry_sync_manager", "RegistrySyncManager", "_sync_via_tailscale"),
    ("registry_sync_manager", "RegistrySyncManager", "_merge_databases"),
    ("registry_sync_manager", "RegistrySyncManager", "discover_nodes"),
    ("registry_sync_manager", "RegistrySyncManager", "initialize"),
]


def kind_of(obj):
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        return "enum"
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        return "dataclass"
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj):
        return "function"
    return "object"


@pytest.mark.parametrize("module,name", [(m, n) for m, names in PUBLIC.items() for n in names])
def test_every_public_name_is_there_of_its_kind(module, name):
    mod = importlib.import_module("mreg.compat." + module)
    assert hasattr(mod, name), "mreg.compat.%s has no %s" % (module, name)
    want = PUBLIC[module][name]
    got = kind_of(getattr(mod, name))
    # an alias of a dataclass counts as a class where the original says "class"
    assert got == want or (want == "class" and got == "dataclass"), "%s.%s is a %s, not a %s" % (module, name, got, want)


def test_the_sync_aliases_are_the_same_class_objects():
    sync = importlib.import_module("mreg.compat.registry_sync_manager")
    base = importlib.import_module("mreg.compat.database_sync_manager")
    assert sync.RegistrySyncState is base.DatabaseSyncState and sync.SyncState is base.DatabaseSyncState
    assert sync.NodeInfo is base.SyncNodeInfo
    assert set(sync.__all__) == {"RegistrySyncManager", "RegistrySyncState", "SyncState", "NodeInfo"}


def test_the_names_the_original_has_not_are_not_there():
    assert not hasattr(importlib.import_module("mreg.compat.cmaes_registry_integration"), "load_heuristic_weights")
    assert not hasattr(importlib.import_module("mreg.compat.registry_sync_manager"), "get_registry_sync_manager")


@pytest.mark.parametrize("module,cls,attr", SEMI_PRIVATE)
def test_every_semi_private_name_of_the_checklist_is_there(module, cls, attr, tmp_path, monkeypatch):
    klass = getattr(importlib.import_module("mreg.compat." + module), cls)
    if hasattr(klass, attr):
        return
    # made by the constructor: build one on a real registry
    monkeypatch.chdir(tmp_path)
    reg = importlib.import_module("mreg.compat.model_registry").ModelRegistry(tmp_path / "reg")
    rm = importlib.import_module("mreg.compat.rollback_manager")
    if cls == "RollbackManager":
        obj = rm.RollbackManager(reg)
    elif cls == "AutoRollbackHandler":
        obj = rm.AutoRollbackHandler(rm.RollbackManager(reg))
    elif cls == "QualityRollbackWatcher":
        obj = rm.QualityRollbackWatcher(rm.RollbackManager(reg))
    else:
        pytest.fail("%s.%s has no %s" % (module, cls, attr))
    assert hasattr(obj, attr), "%s.%s has no %s" % (module, cls, attr)
