"""The original registry's ``app.training.model_registry`` on mreg (deprecated there, as here).

    from mreg.compat.model_registry import ModelRegistry, ModelStage

    registry = ModelRegistry(Path("data/model_registry"))
    model_id, version = registry.register_model("Square8 2p", Path("model.pt"))
    registry.promote(model_id, version, ModelStage.STAGING, "passed tests")

Names, signatures, defaults, return shapes, exceptions and messages are the
original's. Every call goes through one ``mreg.Registry`` handle per
``RegistryDatabase`` (a ``ModelRegistry`` shares its database's), so the
registry is mreg's git registry at ``registry_dir``: what this module writes
is what ``mreg`` shows, and the other way round.

Where it differs from the original, and why:

* Production is per model: promoting a version to production (or
  registering one there) archives *that model's* production version, in the
  same event, with reason ``Replaced by <id>:v<N>``; the original archived
  the registry-wide latest production version in a separate write.
  ``AutoPromoter`` compares with that model's production version likewise.
* Times: mreg records UTC. ``ModelVersion.created_at``/``updated_at`` are
  naive datetimes in local time and ISO strings are naive local time, as the
  original's (``datetime.now() - v.created_at`` keeps working).
* ``file_path`` is the stored copy inside the registry
  (``<registry_dir>/artifacts/ab/cd/<xxh128><suffix>``); it exists.
  ``file_hash`` is the SHA-256 hex of that file, computed when a version is
  asked for and remembered per file content for the life of the process
  (mreg's own address, ``xxh128:<hex>``, is what ``mreg fsck`` verifies).
  The SQL view (``RegistryDatabase.conn``) lists every version at once and
  carries mreg's address there, so that opening it reads no model file.
* Ids derived from names keep ASCII letters and digits only (mreg's rule:
  ``"Ünïcode Näme!"`` gives ``ncode_nme``); ids, tags and metrics are
  checked by mreg and a bad one raises ``ValueError`` naming it.
* ``RegistryDatabase`` is the registry in ``db_path``'s directory: no SQLite
  file is made; ``conn`` is an in-memory, read-only SQLite copy of the
  registry in the original's schema, filled again whenever the registry
  moved. Its writes keep mreg's rules (see the class).
* Rows about versions that do not exist (a tag, a comparison, a
  validation) are not kept: mreg records them on the version. The call does
  nothing and logs a warning, where the original wrote an orphan row.
* The validation steps are checked in order by mreg (queue from pending,
  start from pending or queued, pass/fail from pending, queued or running,
  create from anything but running); the original set any status.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import operator
import os
import sqlite3
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import mreg

from ._common import local_dt, local_iso

logger = logging.getLogger(__name__)


# ---- enums and records ------------------------------------------------------


class ModelStage(Enum):
    """A version's lifecycle stage."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"
    REJECTED = "rejected"


class ValidationStatus(Enum):
    """Validation states (informational: the validation methods take and give raw strings)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class ModelType(Enum):
    """What kind of model a model id holds (fixed by its first registration)."""

    POLICY_VALUE = "policy_value"
    ENSEMBLE = "ensemble"
    COMPRESSED = "compressed"
    EXPERIMENTAL = "experimental"
    HEURISTIC = "heuristic"


@dataclass
class ModelMetrics:
    """A version's evaluation metrics. mreg checks them (rates in [0, 1], games a whole number >= 0)."""

    elo: float | None = None
    elo_uncertainty: float | None = None
    win_rate: float | None = None
    draw_rate: float | None = None
    games_played: int = 0
    avg_move_time_ms: float | None = None
    policy_accuracy: float | None = None
    value_mse: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """All 8 fields by name, values unchanged."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelMetrics":
        """The known keys of d (unknown ones ignored, missing ones defaulted); d is not changed."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainingConfig:
    """How a version was trained; keys the original does not know live in ``extra_config``."""

    learning_rate: float = 0.001
    batch_size: int = 256
    epochs: int = 100
    optimizer: str = "adam"
    architecture: str = "resnet"
    num_residual_blocks: int = 10
    num_filters: int = 128
    augmentation_enabled: bool = True
    curriculum_stage: str | None = None
    parent_model_id: str | None = None
    training_data_hash: str | None = None
    extra_config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """All 12 fields; ``extra_config`` deep-copied."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["extra_config"] = copy.deepcopy(self.extra_config)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingConfig":
        """Known keys become fields; every unknown key is merged into ``extra_config`` (and wins a clash).

        Unlike the original, a given ``extra_config`` dict is copied, not updated in place.
        """
        names = {f.name for f in fields(cls)} - {"extra_config"}
        extra = dict(d.get("extra_config") or {})
        known = {}
        for k, v in d.items():
            if k in names:
                known[k] = v
            elif k != "extra_config":
                extra[k] = v
        return cls(**known, extra_config=extra)


@dataclass
class ModelVersion:
    """One version as ``get_model`` gives it.

    ``file_path`` is the stored copy in the registry, ``file_hash`` its SHA-256
    hex; the times are naive local time (mreg records them in UTC).
    """

    model_id: str
    version: int
    name: str
    model_type: ModelType
    stage: ModelStage
    created_at: datetime
    updated_at: datetime
    file_path: str
    file_hash: str
    file_size_bytes: int
    metrics: ModelMetrics
    training_config: TrainingConfig
    description: str = ""
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The fields in order; enums as values, times as ISO strings, nested records as dicts."""
        return {
            "model_id": self.model_id,
            "version": self.version,
            "name": self.name,
            "model_type": self.model_type.value,
            "stage": self.stage.value,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "file_path": self.file_path,
            "file_hash": self.file_hash,
            "file_size_bytes": self.file_size_bytes,
            "metrics": self.metrics.to_dict(),
            "training_config": self.training_config.to_dict(),
            "description": self.description,
            "tags": list(self.tags),
        }


# ---- helpers ----------------------------------------------------------------

# The stage table, as mreg's (core/stage.c) and the original's: staying put is refused too.
_ALLOWED = {
    ModelStage.DEVELOPMENT: (ModelStage.STAGING, ModelStage.ARCHIVED, ModelStage.REJECTED),
    ModelStage.STAGING: (ModelStage.PRODUCTION, ModelStage.DEVELOPMENT, ModelStage.ARCHIVED, ModelStage.REJECTED),
    ModelStage.PRODUCTION: (ModelStage.ARCHIVED, ModelStage.STAGING),
    ModelStage.ARCHIVED: (ModelStage.DEVELOPMENT,),
    ModelStage.REJECTED: (ModelStage.DEVELOPMENT,),
}

# update_validation_status's statuses and the mreg validation step that reaches each.
_VALIDATION_ACTIONS = {"pending": "create", "queued": "queue", "running": "start", "passed": "pass",
                       "failed": "fail"}


def _derive_model_id(name: str) -> str:
    """The id mreg derives from a name (core/event.c mreg_id_derive): lowercase ASCII, ' ' and '-' to '_'."""
    out = []
    for c in name:
        if "A" <= c <= "Z":
            c = c.lower()
        elif c in " -":
            c = "_"
        if "a" <= c <= "z" or "0" <= c <= "9" or c == "_":
            out.append(c)
    return "".join(out)


def _stage(x: ModelStage | str) -> ModelStage:
    return x if isinstance(x, ModelStage) else ModelStage(x)


def _mtype(x: ModelType | str) -> ModelType:
    return x if isinstance(x, ModelType) else ModelType(x)


_sha256_lock = threading.Lock()
_sha256_by_content: dict[str, str] = {}


def _sha256_of(path: str, address: str, size: int) -> str:
    """SHA-256 hex of a stored file, remembered by its content address; the address when unreadable."""
    with _sha256_lock:
        known = _sha256_by_content.get(address)
    if known:
        return known
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size != size:
                return address  # not the stored bytes (yet): mreg puts them back at its next command
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return address
    with _sha256_lock:
        _sha256_by_content[address] = digest
    return digest


def _open_registry(path: Path) -> mreg.Registry:
    """The registry at path, created if missing or empty (as ``mreg init``).

    A directory holding the original's registry.db is refused with the
    command that moves it in.
    """
    try:
        return mreg.Registry(path)
    except mreg.Invalid as e:
        if (path / "registry.db").is_file():
            raise mreg.Invalid("not a registry: '%s' holds the original's registry.db (move it into an mreg "
                               "registry with 'mreg -C NEWDIR migrate %s')" % (path, path / "registry.db"),
                               e.code) from e
        raise


class _Snapshot:
    """Every version at one HEAD, and the stage transitions numbered registry-wide (the SQL ``id``)."""

    def __init__(self, head: str, versions: list[dict]) -> None:
        self.head = head
        self.versions = versions
        rows = []
        for v in versions:
            for i, h in enumerate(v["history"]):
                rows.append((h["transitioned_at"], v["model_id"], v["version"], i))
        rows.sort()
        self.transition_ids = {(r[1], r[2], r[3]): n for n, r in enumerate(rows, 1)}


# ---- the database -----------------------------------------------------------

# the original's schema (§0.2), verbatim, shared with the tests that build its databases
_SCHEMA = (Path(__file__).parent / "original_schema.sql").read_text()

_TABLES = ("models", "versions", "tags", "stage_transitions", "comparisons", "validations")


class RegistryDatabase:
    """The original's SQLite database, offered over the mreg registry in ``db_path``'s directory.

    No SQLite file is made at ``db_path``: the registry is the git registry in
    its directory (created there if the directory is empty; the directory must
    exist, as the original's SQLite needed, else ``sqlite3.OperationalError``).
    Two paths in one directory name the same registry.

    ``conn`` is an in-memory SQLite database in the original's schema (§0.2),
    filled from the registry when it is asked for and the registry has moved
    since, one per thread, rows addressable by column name. It is read-only
    (``PRAGMA query_only``): a write through it raises
    ``sqlite3.OperationalError`` instead of being lost; write with the methods.

    The writes keep mreg's rules, where the original's SQL took anything:

    * ``create_model`` keeps the model in this object until its first
      ``create_version`` registers it (mreg has no model without a version);
    * ``create_version`` registers ``file_path`` (which must exist) as the
      next version: mreg numbers versions 1..n and computes hash and size
      itself (the arguments are not stored); another number raises
      ``sqlite3.IntegrityError`` when taken, ``ValueError`` when not next;
      a ``policy_value`` version in development or staging gets its pending
      validation, as ``register_model``'s do;
    * ``update_stage`` follows the stage table: a move the table refuses
      raises ``ValueError("Cannot transition from X to Y")`` and changes
      nothing, a move to the current stage changes nothing, and a move to
      production archives that model's production version in the same event.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._dir = Path(db_path).parent
        if not self._dir.is_dir():
            raise sqlite3.OperationalError("unable to open database file")
        self._reg = _open_registry(self._dir)
        self._lock = threading.RLock()
        self._models: dict[str, dict] = {}  # create_model rows waiting for their first version
        self._models_gen = 0
        self._snap: _Snapshot | None = None
        self._local = threading.local()

    # ---- reading the registry ------------------------------------------

    def _get(self, model_id: str, version: int | None = None) -> dict | None:
        """A version object, or None for anything that names no version (a bad id included)."""
        if version is not None:
            try:
                version = operator.index(version)
            except TypeError:
                return None
            if version < 1:
                return None
        try:
            return self._reg.get(model_id, version)
        except mreg.Invalid:
            return None

    def _snapshot(self) -> _Snapshot:
        head = self._reg.status()["head"]
        with self._lock:
            if self._snap is None or self._snap.head != head:
                self._snap = _Snapshot(head, self._reg.list())
            return self._snap

    def _path(self, v: dict) -> str:
        return str(self._dir / v["file_path"])

    def _file_hash(self, v: dict) -> str:
        return _sha256_of(self._path(v), v["file_hash"], v["file_size_bytes"])

    def _validation_times(self, v: dict, events: list[dict]) -> tuple[str, str]:
        """created_at and updated_at of a version's validation (UTC), from its validation events."""
        times = [e["time"] for e in events if e["type"] == "version.validation" and e["ref"] == v["ref"]]
        made_at_registration = (v["model_type"] == "policy_value" and v["history"]
                                and v["history"][0]["to_stage"] in ("development", "staging"))
        created = v["created_at"] if made_at_registration or not times else times[0]
        return created, times[-1] if times else v["created_at"]

    # ---- the SQL view ----------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's read-only SQLite copy of the registry in the original's schema (semi-private)."""
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(":memory:", timeout=30.0)
            c.row_factory = sqlite3.Row
            c.executescript(_SCHEMA)
            self._local.conn = c
            self._local.stamp = None
        stamp = (self._reg.status()["head"], self._models_gen)
        if stamp != self._local.stamp:
            self._fill(c)
            self._local.stamp = stamp
        return c

    def _fill(self, c: sqlite3.Connection) -> None:
        snap = self._snapshot()
        events = self._reg.events()
        c.execute("PRAGMA query_only = OFF")
        try:
            for t in _TABLES:
                c.execute("DELETE FROM %s" % t)
            c.execute("DELETE FROM sqlite_sequence")
            models: dict[str, dict] = {}
            for v in sorted(snap.versions, key=lambda v: (v["created_at"], v["model_id"], v["version"])):
                first = models.setdefault(v["model_id"], v)
                c.execute("INSERT INTO versions (model_id, version, stage, file_path, file_hash, file_size_bytes, "
                          "metrics_json, training_config_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                          (v["model_id"], v["version"], v["stage"], self._path(v), v["file_hash"],
                           v["file_size_bytes"], json.dumps(v["metrics"]), json.dumps(v["training_config"]),
                           local_iso(v["created_at"]), local_iso(v["updated_at"])))
                for t in v["tags"]:
                    c.execute("INSERT INTO tags (model_id, version, tag) VALUES (?,?,?)",
                              (v["model_id"], v["version"], t))
                val = v.get("validation")
                if val is not None:
                    created, updated = self._validation_times(v, events)
                    c.execute("INSERT INTO validations (model_id, version, status, work_id, baselines, "
                              "games_per_matchup, results_json, started_at, completed_at, created_at, updated_at) "
                              "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                              (v["model_id"], v["version"], val["status"], val["work_id"],
                               json.dumps(val["baselines"]) if val["baselines"] else None,
                               val["games_per_matchup"],
                               json.dumps(val["results"]) if val["results"] is not None else None,
                               local_iso(val["started_at"]), local_iso(val["completed_at"]),
                               local_iso(created), local_iso(updated)))
            for model_id, first in models.items():
                c.execute("INSERT INTO models VALUES (?,?,?,?,?,?)",
                          (model_id, first["name"], first["description"], first["model_type"],
                           local_iso(first["created_at"]), local_iso(first["created_at"])))
            with self._lock:
                pending = [(k, dict(m)) for k, m in self._models.items() if k not in models]
            for model_id, m in pending:
                c.execute("INSERT INTO models VALUES (?,?,?,?,?,?)",
                          (model_id, m["name"], m["description"], m["model_type"], m["created_at"],
                           m["created_at"]))
            transitions = sorted((n, v, v["history"][i]) for v in snap.versions for i in range(len(v["history"]))
                                 for n in [snap.transition_ids[(v["model_id"], v["version"], i)]])
            for n, v, h in transitions:
                c.execute("INSERT INTO stage_transitions VALUES (?,?,?,?,?,?,?,?)",
                          (n, v["model_id"], v["version"], h["from_stage"], h["to_stage"], h["reason"],
                           h["transitioned_by"], local_iso(h["transitioned_at"])))
            seen: set[str] = set()
            comparisons = [cmp for v in snap.versions for cmp in v.get("comparisons") or []]
            for cmp in sorted(comparisons, key=lambda cmp: cmp["compared_at"]):
                if cmp["event"] in seen:
                    continue
                seen.add(cmp["event"])
                a_id, a_ver = cmp["model_a"].rsplit(":v", 1)
                b_id, b_ver = cmp["model_b"].rsplit(":v", 1)
                c.execute("INSERT INTO comparisons (model_a_id, model_a_version, model_b_id, model_b_version, "
                          "games_played, model_a_wins, model_b_wins, draws, elo_diff, compared_at, notes) "
                          "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          (a_id, int(a_ver), b_id, int(b_ver), cmp["games"], cmp["a_wins"], cmp["b_wins"],
                           cmp["draws"], cmp["elo_diff"], local_iso(cmp["compared_at"]), cmp["notes"] or ""))
            c.commit()
        finally:
            c.execute("PRAGMA query_only = ON")

    # ---- models and versions --------------------------------------------

    def create_model(self, model_id: str, name: str, model_type: ModelType, description: str = "") -> None:
        """Name a model before its first version; kept here until ``create_version`` registers one.

        A model id that exists (here or in the registry) raises ``sqlite3.IntegrityError``.
        """
        with self._lock:
            if model_id in self._models or self._get(model_id) is not None:
                raise sqlite3.IntegrityError("UNIQUE constraint failed: models.model_id")
            self._models[model_id] = {"name": name, "model_type": _mtype(model_type).value,
                                      "description": description, "created_at": datetime.now().isoformat()}
            self._models_gen += 1

    def model_exists(self, model_id: str) -> bool:
        """True when the model has a version in the registry, or was named by ``create_model`` here."""
        with self._lock:
            if model_id in self._models:
                return True
        return self._get(model_id) is not None

    def get_next_version(self, model_id: str) -> int:
        """The highest version number plus 1 (1 for an unknown id)."""
        v = self._get(model_id)
        return v["version"] + 1 if v else 1

    def _register(self, model_id: str | None, name: str, file: str, model_type: ModelType | None,
                  description: str, stage: ModelStage, metrics: ModelMetrics, training_config: TrainingConfig,
                  tags: list[str] | None) -> dict:
        """Register file as the next version; a model's name, type and description stay its first's."""
        key = model_id if model_id is not None else _derive_model_id(name)
        with self._lock:
            pending = self._models.get(key)
        existing = self._get(key) if key else None
        if pending and not existing:
            name, description = pending["name"], pending["description"]
            model_type = ModelType(pending["model_type"])
        kind = existing["model_type"] if existing else (model_type or ModelType.POLICY_VALUE).value
        v = self._reg.register(name, file, model_id=model_id, model_type=kind, description=description,
                               stage=stage.value, metrics=metrics.to_dict(),
                               training_config=training_config.to_dict(), tags=tags)
        with self._lock:
            if self._models.pop(v["model_id"], None) is not None:
                self._models_gen += 1
        return v

    def create_version(self, model_id: str, version: int, stage: ModelStage, file_path: str, file_hash: str,
                       file_size: int, metrics: ModelMetrics, training_config: TrainingConfig) -> None:
        """Register ``file_path`` as ``version`` of the model, which must be its next number.

        The history starts with "Initial registration" as the original's. The
        file must exist (``FileNotFoundError``); ``file_hash`` and ``file_size``
        are not stored (mreg hashes and measures the file itself).
        """
        if self._get(model_id, version) is not None:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: versions.model_id, versions.version")
        nxt = self.get_next_version(model_id)
        if version != nxt:
            raise ValueError("Cannot create version %s:%s: the next version of %s is %d" % (
                model_id, version, model_id, nxt))
        if not Path(file_path).exists():
            raise FileNotFoundError("Model file not found: %s" % file_path)
        with self._lock:
            pending = self._models.get(model_id)
        self._register(model_id, pending["name"] if pending else model_id, str(file_path), None,
                       "", _stage(stage), metrics, training_config, None)

    def update_stage(self, model_id: str, version: int, new_stage: ModelStage, reason: str = "",
                     transitioned_by: str = "system") -> None:
        """Move a version to new_stage, as mreg allows it (see the class); ``ValueError`` if it is missing."""
        new_stage = _stage(new_stage)
        v = self._get(model_id, version)
        if v is None:
            raise ValueError(f"Version {model_id}:{version} not found")
        current = ModelStage(v["stage"])
        if current == new_stage:
            return
        if new_stage not in _ALLOWED[current]:
            raise ValueError(f"Cannot transition from {current.value} to {new_stage.value}")
        self._reg.promote(model_id, version, new_stage.value, reason=reason, actor=transitioned_by)

    def update_metrics(self, model_id: str, version: int, metrics: ModelMetrics) -> None:
        """Replace a version's metrics wholesale; a missing version is a no-op."""
        if self._get(model_id, version) is None:
            return
        try:
            self._reg.update_metrics(model_id, version, metrics.to_dict(), replace=True)
        except mreg.NotFound:
            pass

    def add_tag(self, model_id: str, version: int, tag: str) -> None:
        """Tag a version (a tag already there is no change); a missing version: nothing, a warning."""
        if self._get(model_id, version) is None:
            logger.warning("tag %r not kept: version %s:%s not found", tag, model_id, version)
            return
        self._reg.tag(model_id, version, tag)

    def remove_tag(self, model_id: str, version: int, tag: str) -> None:
        """Remove a tag; a missing tag or version is a no-op."""
        if self._get(model_id, version) is None:
            return
        self._reg.untag(model_id, version, tag)

    def _version_row(self, v: dict) -> dict:
        return {
            "model_id": v["model_id"],
            "version": v["version"],
            "name": v["name"],
            "description": v["description"],
            "model_type": v["model_type"],
            "stage": v["stage"],
            "file_path": self._path(v),
            "file_hash": self._file_hash(v),
            "file_size_bytes": v["file_size_bytes"],
            "metrics": v["metrics"] or {},
            "training_config": v["training_config"] or {},
            "created_at": local_iso(v["created_at"]),
            "updated_at": local_iso(v["updated_at"]),
            "tags": sorted(v["tags"]),
        }

    def _list_row(self, v: dict) -> dict:
        return {"model_id": v["model_id"], "version": v["version"], "name": v["name"],
                "model_type": v["model_type"], "stage": v["stage"], "file_path": self._path(v),
                "metrics": v["metrics"] or {}, "updated_at": local_iso(v["updated_at"])}

    def get_version(self, model_id: str, version: int) -> dict | None:
        """One version with its model's name, description and type, or None."""
        v = self._get(model_id, version)
        return self._version_row(v) if v else None

    def get_versions_by_stage(self, stage: ModelStage) -> list[dict]:
        """Versions in a stage, the most recently changed first."""
        return [self._list_row(v) for v in self._reg.list(stage=_stage(stage).value)]

    def get_latest_production(self, model_type: ModelType | None = None) -> dict | None:
        """The production version changed last across all models (optionally of one type), or None."""
        rows = self._reg.list(stage="production", model_type=_mtype(model_type).value if model_type else None)
        if not rows:
            return None
        v = rows[0]
        return {"model_id": v["model_id"], "version": v["version"], "name": v["name"],
                "model_type": v["model_type"], "file_path": self._path(v), "metrics": v["metrics"] or {}}

    def search_by_tag(self, tag: str) -> list[dict]:
        """The versions carrying tag: model_id, version, name, stage, file_path."""
        try:
            rows = self._reg.list(tag=tag)
        except mreg.Invalid:
            return []
        return [{"model_id": v["model_id"], "version": v["version"], "name": v["name"], "stage": v["stage"],
                 "file_path": self._path(v)} for v in rows]

    def record_comparison(self, model_a_id: str, model_a_version: int, model_b_id: str, model_b_version: int,
                          games: int, a_wins: int, b_wins: int, draws: int, elo_diff: float | None = None,
                          notes: str = "") -> None:
        """Record a head-to-head result on both versions.

        mreg keeps comparisons of two existing, different versions with counts
        >= 0; any other is not kept (a warning is logged), where the original
        wrote the row.
        """
        try:
            self._reg.compare((model_a_id, model_a_version), (model_b_id, model_b_version), games=games,
                              a_wins=a_wins, b_wins=b_wins, draws=draws, elo_diff=elo_diff, notes=notes or None)
        except (mreg.NotFound, mreg.Invalid) as e:
            logger.warning("comparison not kept: %s", e)

    def get_stage_history(self, model_id: str, version: int) -> list[dict]:
        """A version's transitions, oldest first; ``id`` numbers every transition of the registry by time."""
        if self._get(model_id, version) is None:
            return []
        snap = self._snapshot()
        rows = self._reg.history(model_id, version) or []
        out = []
        for i, h in enumerate(rows):
            out.append({"id": snap.transition_ids.get((model_id, version, i)), "model_id": model_id,
                        "version": version, "from_stage": h["from_stage"], "to_stage": h["to_stage"],
                        "reason": h["reason"], "transitioned_by": h["transitioned_by"],
                        "transitioned_at": local_iso(h["transitioned_at"])})
        return out

    # ---- validations ----------------------------------------------------

    def create_validation(self, model_id: str, version: int, baselines: list[str] | None = None,
                          games_per_matchup: int = 50) -> None:
        """Create a version's validation, or reset it to pending (mreg refuses while it is running).

        mreg's reset also clears work_id, results, started_at and completed_at.
        A missing version: nothing is kept, a warning is logged.
        """
        if self._get(model_id, version) is None:
            logger.warning("validation not kept: version %s:%s not found", model_id, version)
            return
        self._reg.validation(model_id, version, "create", baselines=list(baselines) if baselines else None,
                             games_per_matchup=games_per_matchup)

    def get_validation_status(self, model_id: str, version: int) -> str | None:
        """The validation's status string, or None."""
        v = self._get(model_id, version)
        return v["validation"]["status"] if v and v.get("validation") else None

    def update_validation_status(self, model_id: str, version: int, status: str, work_id: str | None = None,
                                 results: dict | None = None) -> None:
        """One validation step: "pending", "queued" (with work_id), "running", "passed" or "failed".

        A missing validation or version is a no-op. mreg checks the order of
        the steps (a refused step raises ``ValueError``), takes ``work_id`` with
        "queued" and ``results`` with "passed"/"failed" only, and records no
        other status (``ValueError``).
        """
        v = self._get(model_id, version)
        if v is None or v.get("validation") is None:
            return
        action = _VALIDATION_ACTIONS.get(status)
        if action is None:
            raise ValueError("Cannot set validation status %s: mreg records %s" % (
                status, ", ".join(_VALIDATION_ACTIONS)))
        val = v["validation"]
        if action == "create":
            self._reg.validation(model_id, version, "create", baselines=val["baselines"] or None,
                                 games_per_matchup=val["games_per_matchup"])
        elif action == "queue":
            self._reg.validation(model_id, version, "queue", work_id=work_id if work_id is not None else val["work_id"])
        elif action == "start":
            self._reg.validation(model_id, version, "start")
        else:
            self._reg.validation(model_id, version, action, results=results)

    def get_models_needing_validation(self) -> list[dict]:
        """Versions whose validation is pending, the most recently changed first."""
        out = []
        for v in self._reg.list():
            val = v.get("validation")
            if val is None or val["status"] != "pending":
                continue
            out.append({"model_id": v["model_id"], "version": v["version"], "file_path": self._path(v),
                        "stage": v["stage"], "name": v["name"], "model_type": v["model_type"],
                        "validation_status": val["status"], "baselines": list(val["baselines"] or []),
                        "games_per_matchup": val["games_per_matchup"]})
        return out

    def get_models_without_validation(self) -> list[dict]:
        """Versions in development or staging with no validation, the most recently created first."""
        rows = [v for v in self._reg.list() if v["stage"] in ("development", "staging") and v.get("validation") is None]
        rows.sort(key=lambda v: v["created_at"], reverse=True)
        return [{"model_id": v["model_id"], "version": v["version"], "file_path": self._path(v),
                 "stage": v["stage"], "name": v["name"], "model_type": v["model_type"]} for v in rows]

    def get_validation(self, model_id: str, version: int) -> dict | None:
        """A version's validation record, or None; created_at/updated_at from its validation events."""
        v = self._get(model_id, version)
        if v is None or v.get("validation") is None:
            return None
        val = v["validation"]
        created, updated = self._validation_times(v, self._reg.events(model_id))
        return {"model_id": model_id, "version": version, "status": val["status"], "work_id": val["work_id"],
                "baselines": list(val["baselines"] or []), "games_per_matchup": val["games_per_matchup"],
                "results": val["results"], "started_at": local_iso(val["started_at"]),
                "completed_at": local_iso(val["completed_at"]), "created_at": local_iso(created),
                "updated_at": local_iso(updated)}


# ---- the registry -----------------------------------------------------------


class ModelRegistry:
    """The original's registry facade over the mreg registry at ``registry_dir``.

    ``registry_dir`` is the mreg registry (the default ``data/model_registry``
    is mreg's default too), created if it is missing or empty. ``db`` is its
    ``RegistryDatabase`` (``<registry_dir>/registry.db`` names it; no file is
    made). ``model_storage_dir`` is made as the original made it but holds
    nothing: the files are stored in the registry (see ``ModelVersion``).
    """

    DEFAULT_REGISTRY_DIR = Path("data/model_registry")

    def __init__(self, registry_dir: Path | None = None, model_storage_dir: Path | None = None) -> None:
        self.registry_dir = Path(registry_dir) if registry_dir else self.DEFAULT_REGISTRY_DIR
        self.registry_dir.mkdir(parents=True, exist_ok=True)
        self.db = RegistryDatabase(self.registry_dir / "registry.db")
        self.model_storage_dir = Path(model_storage_dir) if model_storage_dir else self.registry_dir / "models"
        self.model_storage_dir.mkdir(parents=True, exist_ok=True)
        logger.info("model registry at %s", self.registry_dir)

    def _model_version(self, v: dict) -> ModelVersion:
        return ModelVersion(
            model_id=v["model_id"], version=v["version"], name=v["name"], model_type=ModelType(v["model_type"]),
            stage=ModelStage(v["stage"]), created_at=local_dt(v["created_at"]),
            updated_at=local_dt(v["updated_at"]), file_path=self.db._path(v), file_hash=self.db._file_hash(v),
            file_size_bytes=v["file_size_bytes"], metrics=ModelMetrics.from_dict(v["metrics"] or {}),
            training_config=TrainingConfig.from_dict(v["training_config"] or {}),
            description=v["description"] or "", tags=sorted(v["tags"]))

    def register_model(self, name: str, model_path: Path, model_type: ModelType = ModelType.POLICY_VALUE,
                       description: str = "", metrics: ModelMetrics | None = None,
                       training_config: TrainingConfig | None = None, tags: list[str] | None = None,
                       initial_stage: ModelStage = ModelStage.DEVELOPMENT,
                       model_id: str | None = None) -> tuple[str, int]:
        """Store a model file as the next version of its model; (model_id, version).

        The id is derived from name unless given (ASCII only, mreg's rule). A
        version registered in production archives that model's production
        version, as a promotion does (the original kept both).
        """
        model_path = Path(model_path)
        if not model_path.exists():
            raise FileNotFoundError(f"Model file not found: {model_path}")
        model_type, initial_stage = _mtype(model_type), _stage(initial_stage)
        v = self.db._register(model_id, name, str(model_path), model_type, description, initial_stage,
                              metrics or ModelMetrics(), training_config or TrainingConfig(), tags)
        # the original validates by the type given here, mreg by the model's: the one case mreg leaves out
        if (model_type == ModelType.POLICY_VALUE and initial_stage in (ModelStage.DEVELOPMENT, ModelStage.STAGING)
                and v.get("validation") is None):
            self.db.create_validation(v["model_id"], v["version"])
        return v["model_id"], v["version"]

    def promote(self, model_id: str, version: int, to_stage: ModelStage, reason: str = "",
                promoted_by: str = "system") -> None:
        """Move a version by the stage table.

        To production: that model's production version is archived in the same
        event ("Replaced by <id>:v<N>", by promoted_by); other models keep theirs.
        """
        to_stage = _stage(to_stage)
        v = self.db._get(model_id, version)
        if v is None:
            raise ValueError(f"Version {model_id}:{version} not found")
        current = ModelStage(v["stage"])
        if to_stage not in _ALLOWED[current]:
            raise ValueError(f"Cannot transition from {current.value} to {to_stage.value}")
        self.db._reg.promote(model_id, version, to_stage.value, reason=reason, actor=promoted_by)

    def update_metrics(self, model_id: str, version: int, metrics: ModelMetrics) -> None:
        """Replace a version's metrics (no merge); a missing version is a no-op."""
        self.db.update_metrics(model_id, version, metrics)

    def get_model(self, model_id: str, version: int | None = None) -> ModelVersion | None:
        """A version (None: the highest number), or None."""
        v = self.db._get(model_id, version)
        return self._model_version(v) if v else None

    def get_production_model(self, model_type: ModelType | None = None) -> ModelVersion | None:
        """The production version changed last across all models (optionally of one type), or None."""
        rows = self.db._reg.list(stage="production", model_type=_mtype(model_type).value if model_type else None)
        return self._model_version(rows[0]) if rows else None

    def list_models(self, stage: ModelStage | None = None, model_type: ModelType | None = None) -> list[dict]:
        """One entry per version, the most recently changed first."""
        rows = self.db._reg.list(stage=_stage(stage).value if stage else None,
                                 model_type=_mtype(model_type).value if model_type else None)
        return [self.db._list_row(v) for v in rows]

    def compare_models(self, model_a: tuple[str, int], model_b: tuple[str, int], games: int, a_wins: int,
                       b_wins: int, draws: int, elo_diff: float | None = None, notes: str = "") -> dict:
        """Record a head-to-head result (see ``RegistryDatabase.record_comparison``); the rates over decided games."""
        self.db.record_comparison(model_a[0], model_a[1], model_b[0], model_b[1], games, a_wins, b_wins, draws,
                                  elo_diff, notes)
        total = a_wins + b_wins + draws
        return {
            "model_a": f"{model_a[0]}:v{model_a[1]}",
            "model_b": f"{model_b[0]}:v{model_b[1]}",
            "games": games,
            "a_win_rate": a_wins / total if total > 0 else 0,
            "b_win_rate": b_wins / total if total > 0 else 0,
            "draw_rate": draws / total if total > 0 else 0,
            "elo_diff": elo_diff,
        }

    def add_tag(self, model_id: str, version: int, tag: str) -> None:
        """Tag a version; idempotent."""
        self.db.add_tag(model_id, version, tag)

    def search_by_tag(self, tag: str) -> list[dict]:
        """See ``RegistryDatabase.search_by_tag``."""
        return self.db.search_by_tag(tag)

    def get_stage_history(self, model_id: str, version: int) -> list[dict]:
        """See ``RegistryDatabase.get_stage_history``."""
        return self.db.get_stage_history(model_id, version)

    def export_model(self, model_id: str, version: int, dest_path: Path) -> Path:
        """Copy the stored file to dest_path and its ``ModelVersion.to_dict()`` beside it (``.json``)."""
        model = self.get_model(model_id, version)
        if model is None:
            raise ValueError(f"Model {model_id}:v{version} not found")
        dest = Path(dest_path)
        try:
            self.db._reg.export(model_id, version, dest)
        except (mreg.NotFound, mreg.Invalid) as e:
            raise FileNotFoundError(str(e)) from e
        with open(dest.with_suffix(".json"), "w") as f:
            json.dump(model.to_dict(), f, indent=2, default=str)
        return Path(dest_path)

    def import_model(self, model_path: Path, metadata_path: Path | None = None,
                     model_id: str | None = None) -> tuple[str, int]:
        """Register a file with the metadata beside it (as ``export_model`` writes); always a new development version."""
        model_path = Path(model_path)
        metadata_path = Path(metadata_path) if metadata_path else model_path.with_suffix(".json")
        name, description, tags = model_id or model_path.stem, "", []
        model_type, metrics, training_config = ModelType.POLICY_VALUE, None, None
        if metadata_path.exists():
            with open(metadata_path) as f:
                meta = json.load(f)
            name = meta.get("name", name)
            description = meta.get("description", description)
            tags = meta.get("tags", tags)
            model_type = ModelType(meta.get("model_type", "policy_value"))
            if "metrics" in meta:
                metrics = ModelMetrics.from_dict(meta["metrics"])
            if "training_config" in meta:
                training_config = TrainingConfig.from_dict(meta["training_config"])
        return self.register_model(name=name, model_path=model_path, model_type=model_type, description=description,
                                   metrics=metrics, training_config=training_config, tags=tags, model_id=model_id)

    # ---- validations ----------------------------------------------------

    def get_models_needing_validation(self) -> list[dict]:
        """Versions whose validation is pending."""
        return self.db.get_models_needing_validation()

    def get_unvalidated_models(self) -> list[dict]:
        """Versions in development or staging with no validation."""
        return self.db.get_models_without_validation()

    def create_validation(self, model_id: str, version: int, baselines: list[str] | None = None,
                          games_per_matchup: int = 50) -> None:
        """Create a validation or reset it to pending."""
        self.db.create_validation(model_id, version, baselines, games_per_matchup)

    def set_validation_queued(self, model_id: str, version: int, work_id: str) -> None:
        """Status "queued", with the work id."""
        self.db.update_validation_status(model_id, version, "queued", work_id=work_id)

    def set_validation_running(self, model_id: str, version: int) -> None:
        """Status "running"; sets started_at."""
        self.db.update_validation_status(model_id, version, "running")

    def set_validation_passed(self, model_id: str, version: int, results: dict | None = None) -> None:
        """Status "passed"; sets completed_at and the results if given."""
        self.db.update_validation_status(model_id, version, "passed", results=results)

    def set_validation_failed(self, model_id: str, version: int, results: dict | None = None) -> None:
        """Status "failed"; sets completed_at and the results if given."""
        self.db.update_validation_status(model_id, version, "failed", results=results)

    def get_validation(self, model_id: str, version: int) -> dict | None:
        """See ``RegistryDatabase.get_validation``."""
        return self.db.get_validation(model_id, version)

    def get_validation_status(self, model_id: str, version: int) -> str | None:
        """The raw status string, or None."""
        return self.db.get_validation_status(model_id, version)


# ---- the auto-promoter --------------------------------------------------------


class AutoPromoter:
    """One step up the stages when a version's metrics meet the criteria.

    Staging -> production compares with *that model's* production version
    (mreg keeps one per model); the original compared with the production
    version changed last across all models.
    """

    def __init__(self, registry: ModelRegistry, criteria: Any = None, min_elo_improvement: float | None = None,
                 min_games: int | None = None, min_win_rate_vs_current: float | None = None,
                 auto_archive_after_days: int = 30) -> None:
        self.registry = registry
        self.auto_archive_after_days = auto_archive_after_days
        self._criteria = criteria
        if criteria is not None:
            self.min_elo_improvement = criteria.min_elo_improvement
            self.min_games = criteria.min_games_played
            self.min_win_rate_vs_current = criteria.min_win_rate
        else:
            self.min_elo_improvement = min_elo_improvement if min_elo_improvement is not None else 25.0
            self.min_games = min_games if min_games is not None else 100
            self.min_win_rate_vs_current = min_win_rate_vs_current if min_win_rate_vs_current is not None else 0.52

    def evaluate_for_staging(self, model_id: str, version: int) -> tuple[bool, str]:
        """(ready, reason) for development -> staging: min_games // 2 games and an Elo."""
        model = self.registry.get_model(model_id, version)
        if model is None:
            return False, "Model not found"
        if model.stage != ModelStage.DEVELOPMENT:
            return False, f"Model is in {model.stage.value}, not development"
        if model.metrics.games_played < self.min_games // 2:
            return False, f"Insufficient games ({model.metrics.games_played} < {self.min_games // 2})"
        if model.metrics.elo is None:
            return False, "No Elo rating available"
        return True, "Model meets staging criteria"

    def evaluate_for_production(self, model_id: str, version: int) -> tuple[bool, str]:
        """(ready, reason) for staging -> production: min_games games and an Elo gain over the model's production."""
        model = self.registry.get_model(model_id, version)
        if model is None:
            return False, "Model not found"
        if model.stage != ModelStage.STAGING:
            return False, f"Model is in {model.stage.value}, not staging"
        if model.metrics.games_played < self.min_games:
            return False, f"Insufficient games ({model.metrics.games_played} < {self.min_games})"
        current = [e for e in self.registry.list_models(stage=ModelStage.PRODUCTION) if e["model_id"] == model_id]
        if current:
            prod_elo = (current[0]["metrics"] or {}).get("elo")
            if model.metrics.elo is None or prod_elo is None:
                return False, "Cannot compare Elo ratings"
            diff = model.metrics.elo - prod_elo
            if diff < self.min_elo_improvement:
                return False, f"Elo improvement insufficient ({diff:.1f} < {self.min_elo_improvement})"
            return True, f"Elo improved by {diff:.1f}"
        return True, "No current production model"

    def auto_promote(self, model_id: str, version: int) -> ModelStage | None:
        """At most one step (development -> staging or staging -> production); the new stage, or None."""
        model = self.registry.get_model(model_id, version)
        if model is None:
            return None
        if model.stage == ModelStage.DEVELOPMENT:
            ok, reason = self.evaluate_for_staging(model_id, version)
            if ok:
                self.registry.promote(model_id, version, ModelStage.STAGING, reason, "auto_promoter")
                return ModelStage.STAGING
        elif model.stage == ModelStage.STAGING:
            ok, reason = self.evaluate_for_production(model_id, version)
            if ok:
                self.registry.promote(model_id, version, ModelStage.PRODUCTION, reason, "auto_promoter")
                return ModelStage.PRODUCTION
        return None


# ---- the process-wide registry ----------------------------------------------

_registry: ModelRegistry | None = None
_registry_lock = threading.Lock()


def get_model_registry(registry_dir: Path | None = None) -> ModelRegistry:
    """The process-wide ModelRegistry, made by the first call (later calls ignore registry_dir)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = ModelRegistry(registry_dir)
        return _registry


def reset_model_registry() -> None:
    """Forget the process-wide ModelRegistry; the next get_model_registry makes a new one."""
    global _registry
    with _registry_lock:
        _registry = None
