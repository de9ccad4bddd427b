"""The original's ``app.training.registry_backup`` on mreg: backups of a registry, as the original's calls.

The original copied its SQLite file into ``<backup_dir>/<YYYYMMDD_HHMMSS>/registry.db``
with a ``metadata.json`` and a manifest. mreg's backups are git bundles made
by the C API (``backup_create``, ``backup_list``, ``backup_show``,
``backup_verify``, ``backup_restore``, ``backup_prune``): this module offers
the original's class, methods and return types (``BackupMetadata``, ``Path``,
``int``, ``bool``, the result dicts) over them.

    from mreg.compat.registry_backup import RegistryBackupManager
    mgr = RegistryBackupManager(Path("data/model_registry/registry.db"))
    path = mgr.create_backup("before the big run")

Where it differs from the original, and why:

- **The registry**: ``registry_path`` names the registry's directory. The
  original's database paths are taken as their registry: ``<dir>/registry.db``
  (ModelRegistry's) is ``<dir>``, ``data/model_registry.db`` (the sync
  manager's) is ``data/model_registry``. "The registry does not exist" means
  there is no mreg registry there.
- **A backup path** (what ``create_backup`` returns, ``pre_restore_backup``) is
  ``<backup_dir>/<id>.bundle``: a git bundle of the registry's branch, which
  ``git clone`` and ``mreg restore-from`` take. Beside it are ``<id>.json``
  (mreg's metadata) and the large model files (``lfs/objects/...``), shared
  by all backups: unlike the original's, a backup holds the model files too.
  There is no manifest: every manager (and the ``mreg backup`` commands) sees
  every backup of the registry at once.
- **Ids** are mreg's ``YYYYMMDD-HHMMSS-ffffff-NN`` (UTC, microseconds and a
  counter), unique by construction: the original's one-second ids let two
  backups share a directory and a restore overwrite its own source
  (ORIGINAL-API.md §7.3, REFERENCE.md).
- **The backup directory** is mreg's for this registry: ``git config
  mreg.backupDir``, else ``registry_backups/`` beside the registry (for the
  default registry, ``data/registry_backups``: the original's
  ``DEFAULT_BACKUP_DIR``). A ``backup_dir`` argument that names another
  directory is not used (a warning is logged); ``backup_dir`` is the
  directory the backups are in.
- **Retention**: mreg prunes to ``backup.max_backups`` of mreg.json (10) after
  every backup; ``max_backups`` here prunes further when it is smaller, and
  cannot keep more than mreg.json allows. The newest backup always stays.
- **Metadata**: ``db_size_bytes`` and ``db_hash`` are the bundle's size and
  ``xxh128:<hex>`` (not a SHA-256), ``model_count``/``version_count`` the
  registry's at the backup's head, ``registry_path`` the registry's
  directory (resolved), ``created_by`` the registry's actor (mreg.actor, else
  ``$USER@host``: mreg's backups do not record a caller-given name), and
  ``timestamp`` the original's naive local ISO string.
- **verify_backup** checks more: the bundle's size and hash, its header and
  head, every object of its pack, that the head's history is complete, the
  count of events, every large file's hash. Errors are the original's texts
  where the check is the same ("Backup not found", "Backup database file
  missing", "Hash mismatch: expected ...") and mreg's message otherwise.
- **restore_backup** points the registry's branch at the backup's head (one
  compare-and-swap, in the reflog), puts back its large files and folds the
  state; the original copied a file over the database. mreg always takes the
  pre-restore backup first (restoring it undoes the restore), so
  ``create_pre_restore_backup=False`` still gets one, and the result names
  it. Its reason is mreg's ``pre-restore: before restoring <id>``.
- **cleanup_orphaned_backups** counts orphaned *files* (a bundle whose
  metadata is gone, left by a killed backup); the original counted
  directories. The original's own backup directories (``<YYYYMMDD_HHMMSS>/``)
  are left alone: they are not mreg's, and ``mreg migrate`` can read them.
- Paths may be ``str`` everywhere (the original needed a ``Path`` for ``backup_dir``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mreg

from ._common import AI_SERVICE_ROOT, local_iso

logger = logging.getLogger(__name__)

DEFAULT_BACKUP_DIR: Path = AI_SERVICE_ROOT / "data" / "registry_backups"

_KEEP_ALL = 1 << 30  # backup_prune's largest keep: prune nothing but orphans


@dataclass
class BackupMetadata:
    """One backup, as the original's metadata (all fields required); see the module for what each holds in mreg."""

    backup_id: str
    timestamp: str
    reason: str
    registry_path: str
    db_size_bytes: int
    db_hash: str
    model_count: int
    version_count: int
    source_host: str
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        """The 10 fields under their names."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BackupMetadata":
        """From a dict; unknown keys are ignored, a missing one raises TypeError."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _utc(t: str) -> datetime:
    """mreg's UTC time (``...Z``), aware."""
    return datetime.fromisoformat(t.replace("Z", "+00:00"))


def _metadata(m: dict) -> BackupMetadata:
    """mreg's backup metadata (``backup show --json``) as the original's BackupMetadata."""
    return BackupMetadata(backup_id=m.get("id", ""), timestamp=local_iso(m.get("time", "")),
                          reason=m.get("reason", ""), registry_path=m.get("registry", ""),
                          db_size_bytes=int(m.get("bundle_size", 0)), db_hash=m.get("bundle_hash", ""),
                          model_count=int(m.get("models", 0)), version_count=int(m.get("versions", 0)),
                          source_host=m.get("host", ""), created_by=m.get("actor", ""))


def _registry_dir(path: Path) -> Path:
    """The registry a path names: the directory itself, or the one an original database path stood for."""
    if path.suffix == ".db" and not path.is_dir():
        return path.parent if path.name == "registry.db" else path.with_suffix("")
    return path


def _verify_error(e: mreg.Error) -> str:
    """A failed check as the original's error text where the check is the same, else mreg's message."""
    text = str(e)
    if isinstance(e, mreg.NotFound) and text.startswith("backup not found"):
        return "Backup not found"
    if text.startswith("backup file missing"):
        return "Backup database file missing"
    m = re.search(r"hashes to (?:\w+:)?([0-9a-f]+), the metadata says (?:\w+:)?([0-9a-f]+)", text)
    if text.startswith("hash mismatch") and m:
        return "Hash mismatch: expected %s..., got %s..." % (m.group(2)[:16], m.group(1)[:16])
    return text


class RegistryBackupManager:
    """Backups of one registry: create, list, verify, restore, and the housekeeping, over mreg's backups.

    The registry need not exist when the manager is made; it is opened (never
    created) at the first call that needs it, and one handle is kept.
    """

    def __init__(self, registry_path: Path, backup_dir: Path | None = None, max_backups: int = 10,
                 auto_backup_interval_hours: float = 24.0) -> None:
        self.registry_path: Path = Path(registry_path)
        self.max_backups: int = max_backups
        self.auto_backup_interval_hours: float = auto_backup_interval_hours
        self._requested_dir = Path(backup_dir) if backup_dir is not None else None
        self._dir = _registry_dir(self.registry_path)
        self._reg: mreg.Registry | None = None
        # until the registry is there: where mreg will put its backups unless mreg.backupDir says otherwise
        self.backup_dir: Path = self._dir.absolute().parent / "registry_backups"
        self._registry()

    def _registry(self) -> mreg.Registry | None:
        """The registry's handle, opened once; None while there is no registry."""
        if self._reg is None:
            try:
                self._reg = mreg.Registry(self._dir, create=False)
            except (mreg.NotFound, mreg.Invalid):
                return None
            self.backup_dir = Path(self._reg.backup_stats()["directory"])
            if self._requested_dir is not None and self._requested_dir.resolve() != self.backup_dir.resolve():
                logger.warning("mreg keeps the backups of %s in %s (git config mreg.backupDir); %s is not used",
                               self._dir, self.backup_dir, self._requested_dir)
            self.backup_dir.mkdir(parents=True, exist_ok=True)
        return self._reg

    def _all(self) -> list[dict]:
        """mreg's metadata of every backup of the registry, newest first."""
        reg = self._registry()
        return sorted(reg.backup_list(), key=lambda m: m.get("time", ""), reverse=True) if reg else []

    def create_backup(self, reason: str = "Manual backup", created_by: str = "system") -> Path | None:
        """Back up the registry; the backup's path (``<backup_dir>/<id>.bundle``), or None.

        None when there is no registry (nothing is created) or the backup
        failed (logged; mreg leaves no partial backup). ``created_by`` is not
        recorded: the metadata names the registry's actor. Then the backups
        past ``max_backups`` (or mreg.json's backup.max_backups, the smaller)
        go, the oldest first.
        """
        reg = self._registry()
        if reg is None:
            return None
        try:
            meta = reg.backup_create(reason)
            keep = max(1, int(self.max_backups))
            if keep < reg.policy()["backup"]["max_backups"]:
                reg.backup_prune(keep)
        except mreg.Error as e:
            logger.error("backup of %s failed: %s", self._dir, e)
            return None
        logger.debug("backup %s of %s (by %s)", meta["id"], self._dir, created_by)
        return self.backup_dir / meta["bundle"]

    def should_auto_backup(self) -> bool:
        """True when there is no backup, or the newest is at least ``auto_backup_interval_hours`` old."""
        backups = self._all()
        if not backups:
            return True
        age = datetime.now(timezone.utc) - _utc(backups[0]["time"])
        return age.total_seconds() / 3600 >= self.auto_backup_interval_hours

    def list_backups(self) -> list[dict]:
        """Every backup's ``BackupMetadata.to_dict()``, newest first."""
        return [_metadata(m).to_dict() for m in self._all()]

    def get_backup(self, backup_id: str) -> BackupMetadata | None:
        """One backup's metadata, or None when there is no such backup."""
        reg = self._registry()
        if reg is None:
            return None
        try:
            return _metadata(reg.backup_show(backup_id))
        except mreg.NotFound:
            return None

    def verify_backup(self, backup_id: str) -> dict:
        """``{"backup_id", "valid", "errors"}``: mreg's checks of the backup (the first failing one in errors)."""
        result: dict[str, Any] = {"backup_id": backup_id, "valid": False, "errors": []}
        reg = self._registry()
        if reg is None:
            result["errors"].append("Backup not found")
            return result
        try:
            reg.backup_verify(backup_id)
        except mreg.Error as e:
            result["errors"].append(_verify_error(e))
        result["valid"] = not result["errors"]
        return result

    def restore_backup(self, backup_id: str, create_pre_restore_backup: bool = True) -> dict:
        """Restore the registry to a backup; never raises.

        ``{"success": True, "backup_id", "pre_restore_backup": <path>,
        "restored_models", "restored_versions"}``, or ``{"success": False,
        "backup_id", "error"}`` with ``"Backup verification failed: [...]"``
        when the backup's checks fail (the registry is then as it was). mreg
        takes the pre-restore backup whatever ``create_pre_restore_backup``
        says.
        """
        result: dict[str, Any] = {"success": False, "backup_id": backup_id}
        reg = self._registry()
        try:
            if reg is None:
                raise mreg.NotFound("backup not found: '%s'" % backup_id)
            report = reg.backup_restore(backup_id)
        except (mreg.NotFound, mreg.Corrupt) as e:
            result["error"] = "Backup verification failed: %r" % [_verify_error(e)]
            return result
        except Exception as e:  # the original's method never raised
            result["error"] = str(e)
            return result
        if not create_pre_restore_backup:
            logger.info("restore of %s: mreg took pre-restore backup %s", backup_id, report["pre_restore_backup"])
        result["pre_restore_backup"] = str(self.backup_dir / ("%s.bundle" % report["pre_restore_backup"]))
        result["success"] = True
        result["restored_models"] = report["models"]
        result["restored_versions"] = report["versions"]
        return result

    def get_latest_backup(self) -> BackupMetadata | None:
        """The newest backup's metadata, or None."""
        backups = self._all()
        return _metadata(backups[0]) if backups else None

    def cleanup_orphaned_backups(self) -> int:
        """Remove what killed backups left (bundles without metadata); how many files went."""
        reg = self._registry()
        if reg is None:
            return 0
        return int(reg.backup_prune(_KEEP_ALL)["orphans"])

    def get_backup_stats(self) -> dict:
        """Counts, the oldest and newest backup and the bundles' total size, in the original's shape."""
        backups = self._all()
        if not backups:
            return {"total_backups": 0, "oldest_backup": None, "newest_backup": None, "total_size_bytes": 0}
        newest, oldest = _metadata(backups[0]), _metadata(backups[-1])
        total = sum(_metadata(m).db_size_bytes for m in backups)
        return {
            "total_backups": len(backups),
            "oldest_backup": oldest.backup_id,
            "oldest_timestamp": oldest.timestamp,
            "newest_backup": newest.backup_id,
            "newest_timestamp": newest.timestamp,
            "total_size_bytes": total,
            "total_size_mb": total / (1024 * 1024),
        }


def backup_before_sync(registry_path: Path) -> Path | None:
    """A backup before a sync (reason "Pre-sync backup"), by a new manager with the defaults."""
    return RegistryBackupManager(registry_path).create_backup(reason="Pre-sync backup", created_by="sync_operation")


def auto_backup_if_needed(registry_path: Path) -> Path | None:
    """A backup (reason "Scheduled auto-backup") when the newest is 24 hours old or there is none; else None."""
    manager = RegistryBackupManager(registry_path)
    if manager.should_auto_backup():
        return manager.create_backup(reason="Scheduled auto-backup", created_by="auto_backup")
    return None
