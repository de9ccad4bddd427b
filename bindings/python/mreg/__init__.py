"""mreg: a model registry on git, from Python.

    import mreg

    with mreg.Registry("data/model_registry") as reg:
        v = reg.register("square8 2p", "model.pt", metrics={"elo": 1500})
        reg.promote(v["model_id"], v["version"], "staging", reason="passed tests")
        best = reg.list(stage="production")

Every call goes through libmreg.so's C API in this process (no mreg process
is started); results are the objects ``mreg ... --json`` prints, as dicts.
The registry keeps its folded state in memory and reads it again only when
the branch moved, so a loop of ``get`` calls costs no file reads. A Registry
may be shared by threads (calls are serialized); other processes may write
to the same registry at the same time, and their writes are seen.

``mreg.compat`` has the original registry's API (``ModelRegistry``,
``RollbackManager``, ...) on top of this.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from ._lib import API_VERSION, Handle
from .errors import (AlreadyExists, Conflict, Corrupt, Error, Invalid, Locked, NotFound, TransitionRefused,
                     Usage)

__all__ = ["Registry", "Error", "NotFound", "AlreadyExists", "TransitionRefused", "Invalid", "Locked", "Usage",
           "Conflict", "Corrupt", "API_VERSION", "STAGES", "MODEL_TYPES", "DEFAULT_DIR"]

STAGES = ("development", "staging", "production", "archived", "rejected")
MODEL_TYPES = ("policy_value", "heuristic", "ensemble", "compressed", "experimental")
DEFAULT_DIR = "data/model_registry"

Version = dict  # a version object: model_id, version, name, model_type, stage, metrics, ...


class Registry:
    """A registry directory, opened (and created with ``create=True``, the default)."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True) -> None:
        self.path = os.fspath(path) if path is not None else os.environ.get("MREG_DIR") or DEFAULT_DIR
        self._h = Handle(self.path, create)

    # ---- the handle -----------------------------------------------------

    def call(self, method: str, **args: Any) -> Any:
        """Any method of the C API, by name; arguments left None are not sent."""
        return self._h.call(method, **args)

    def close(self) -> None:
        """Release the handle; later calls raise ``mreg.Error``."""
        self._h.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "mreg.Registry(%r)" % self.path

    # ---- writes ---------------------------------------------------------

    def register(self, name: str, file: str | os.PathLike, *, model_id: str | None = None,
                 model_type: str | None = None, description: str | None = None, stage: str | None = None,
                 metrics: dict | None = None, training_config: dict | None = None,
                 tags: Iterable[str] | None = None, actor: str | None = None) -> Version:
        """Register a new version of a model (id derived from name unless model_id); the version object."""
        return self.call("register", name=name, file=os.fspath(file), id=model_id, type=model_type,
                         description=description, stage=stage, metrics=metrics, training_config=training_config,
                         tags=list(tags) if tags is not None else None, actor=actor)

    def promote(self, model_id: str, version: int | None = None, to: str | None = None, *,
                reason: str | None = None, actor: str | None = None) -> Version:
        """Move a version (None: the latest) to stage ``to``; raises TransitionRefused when not allowed."""
        if to is None:
            raise Usage("promote needs a stage: to=...", -8)
        return self.call("promote", model=model_id, version=version, to=to, reason=reason, actor=actor)

    def archive(self, model_id: str, version: int | None = None, *, reason: str | None = None,
                actor: str | None = None) -> Version:
        """Archive a version; one already archived is left as it is."""
        return self.call("archive", model=model_id, version=version, reason=reason, actor=actor)

    def reject(self, model_id: str, version: int | None = None, *, reason: str | None = None,
               actor: str | None = None) -> Version:
        """Reject a version; one already rejected is left as it is."""
        return self.call("reject", model=model_id, version=version, reason=reason, actor=actor)

    def update_metrics(self, model_id: str, version: int | None, metrics: dict, *, replace: bool = False,
                       actor: str | None = None) -> Version:
        """Merge metrics into a version's (replace=True: replace them all)."""
        return self.call("update_metrics", model=model_id, version=version, metrics=metrics, replace=replace,
                         actor=actor)

    def tag(self, model_id: str, version: int | None, *tags: str, actor: str | None = None) -> Version:
        """Add tags to a version (tags already there are no change)."""
        return self.call("tag", model=model_id, version=version, tags=list(tags), actor=actor)

    def untag(self, model_id: str, version: int | None, *tags: str, actor: str | None = None) -> Version:
        """Remove tags from a version (tags not there are no change)."""
        return self.call("untag", model=model_id, version=version, tags=list(tags), actor=actor)

    # ---- reads ----------------------------------------------------------

    def get(self, model_id: str, version: int | None = None) -> Version | None:
        """A version (None: the latest) as ``show --json`` has it, or None when there is none."""
        return self.call("get", model=model_id, version=version)

    def list(self, *, stage: str | None = None, model_type: str | None = None, tag: str | None = None,
             model_id: str | None = None) -> list[Version]:
        """Matching versions, the most recently changed first."""
        return self.call("list", stage=stage, type=model_type, tag=tag, model=model_id)

    def history(self, model_id: str, version: int | None = None) -> list[dict] | None:
        """A version's stage transitions, oldest first (None when there is no such version)."""
        return self.call("history", model=model_id, version=version)

    def events(self, model_id: str | None = None, *, limit: int | None = None) -> list[dict]:
        """The event log in fold order (one model's, the last ``limit``)."""
        return self.call("events", model=model_id, limit=limit)

    def status(self) -> dict:
        """HEAD, counts by stage, conflicts."""
        return self.call("status")

    # ---- the rollback manager ------------------------------------------

    def rollback(self, model_id: str, *, to: int | None = None, reason: str | None = None,
                 trigger: str | None = None, dry_run: bool = False, actor: str | None = None) -> dict:
        """Roll back: an archived version (``to``, else the candidate rule) to production, in one event."""
        return self.call("rollback", model=model_id, to=to, reason=reason, trigger=trigger, dry_run=dry_run or None,
                         actor=actor)

    def rollback_check(self, model_id: str, *, metrics: dict | None = None, **thresholds: float) -> dict:
        """The original's should_rollback: {should_rollback, reason, check}; metrics override production's."""
        return self.call("rollback_check", model=model_id, metrics=metrics, **thresholds)

    def rollback_history(self, model_id: str | None = None, *, limit: int = 20) -> list[dict]:
        """Rollback attempts, newest first."""
        return self.call("rollback_history", model=model_id, limit=limit)

    def rollback_stats(self) -> dict:
        """{total_rollbacks, successful, failed, by_trigger, recent_24h}."""
        return self.call("rollback_stats")

    def rollback_pending(self) -> dict:
        """Model id -> the request waiting for approval."""
        return self.call("rollback_pending")

    def rollback_approve(self, model_id: str, *, actor: str | None = None) -> dict:
        """Carry out the waiting request as a rollback."""
        return self.call("rollback_approve", model=model_id, actor=actor)

    def rollback_clear(self, model_id: str, *, reason: str | None = None, actor: str | None = None) -> dict:
        """Drop the waiting request."""
        return self.call("rollback_clear", model=model_id, reason=reason, actor=actor)

    def regression(self, model_id: str, severity: str, elo_drop: float, *, reason: str | None = None,
                   require_approval: bool | None = None, actor: str | None = None) -> dict:
        """The regression policy: {model_id, action: none|rollback|wait, reason[, from_version, to_version]}."""
        return self.call("regression", model=model_id, severity=severity, elo_drop=elo_drop, reason=reason,
                         require_approval=require_approval, actor=actor)

    def baseline_set(self, model_id: str, *, name: str | None = None, metrics: dict | None = None,
                     actor: str | None = None) -> dict:
        """Record a baseline (named, or the model's own); missing metrics from the production version."""
        return self.call("baseline_set", model=model_id, name=name, metrics=metrics, actor=actor)

    def baseline_get(self, model_id: str, *, name: str | None = None) -> dict | None:
        """A baseline, or None."""
        return self.call("baseline_get", model=model_id, name=name)

    def quality_report(self, model_id: str, score: float, *, reason: str | None = None,
                       actor: str | None = None) -> dict:
        """Report a data-quality score; rolls back when it has stayed low long enough."""
        return self.call("quality_report", model=model_id, score=score, reason=reason, actor=actor)

    def quality_check(self, model_id: str, *, dry_run: bool = False) -> dict:
        """The quality watch of one model at the current time."""
        return self.call("quality_check", model=model_id, dry_run=dry_run or None)

    # ---- comparisons, validations, the auto-promoter, CMA-ES -----------

    def compare(self, a: tuple[str, int], b: tuple[str, int], *, games: int, a_wins: int, b_wins: int, draws: int,
                elo_diff: float | None = None, notes: str | None = None, actor: str | None = None) -> dict:
        """Record a head-to-head result of two versions; the comparison as the state shows it."""
        return self.call("compare", a={"model": a[0], "version": a[1]}, b={"model": b[0], "version": b[1]},
                         games=games, a_wins=a_wins, b_wins=b_wins, draws=draws, elo_diff=elo_diff, notes=notes,
                         actor=actor)

    def validation(self, model_id: str, version: int, action: str, *, baselines: list[str] | None = None,
                   games_per_matchup: int | None = None, work_id: str | None = None, results: dict | None = None,
                   actor: str | None = None) -> dict:
        """One step of a version's validation (create, queue, start, pass, fail); the version after it."""
        return self.call("validation", model=model_id, version=version, action=action, baselines=baselines,
                         games_per_matchup=games_per_matchup, work_id=work_id, results=results, actor=actor)

    def auto_promote(self, model_id: str, version: int | None = None, *, min_elo_improvement: float | None = None,
                     min_games: int | None = None, actor: str | None = None) -> dict:
        """One step of the auto-promoter: {promoted, stage, reason}."""
        return self.call("auto_promote", model=model_id, version=version, min_elo_improvement=min_elo_improvement,
                         min_games=min_games, actor=actor)

    def cmaes_register(self, weights: str | os.PathLike, board: str, players: int, fitness: float, generation: int, *,
                       config: dict | None = None, auto_promote: bool = True, min_improvement: float = 0.02,
                       actor: str | None = None) -> dict:
        """Register a CMA-ES result as a heuristic version: {model_id, version, stage, note}."""
        return self.call("cmaes_register", weights=os.fspath(weights), board=board, players=players, fitness=fitness,
                         generation=generation, config=config, auto_promote=auto_promote,
                         min_improvement=min_improvement, actor=actor)

    def policy(self) -> dict:
        """mreg.json as this registry reads it, with every default filled in."""
        return self.call("policy")

    # ---- backups, sync, export and import ------------------------------

    def backup_create(self, reason: str | None = None) -> dict:
        """A backup (a git bundle and its metadata); the metadata."""
        return self.call("backup_create", reason=reason)

    def backup_list(self) -> list[dict]:
        """Backups, newest first."""
        return self.call("backup_list")

    def backup_show(self, backup_id: str) -> dict:
        """One backup's metadata."""
        return self.call("backup_show", id=backup_id)

    def backup_verify(self, backup_id: str) -> dict:
        """Check a backup's bundle and metadata: {ok, ...}."""
        return self.call("backup_verify", id=backup_id)

    def backup_auto(self) -> dict | None:
        """A backup when the newest is older than mreg.json's backup.interval_hours; None when none was due."""
        return self.call("backup_auto")

    def backup_stats(self) -> dict:
        """Count, bytes, newest and oldest backup."""
        return self.call("backup_stats")

    def backup_restore(self, backup_id: str) -> dict:
        """Restore a backup (a pre-restore backup is made first)."""
        return self.call("backup_restore", id=backup_id)

    def backup_prune(self, keep: int | None = None) -> dict:
        """Keep the newest ``keep`` (mreg.json's backup.max_backups when None): {removed, orphans}."""
        return self.call("backup_prune", keep=keep)

    def sync(self, *remotes: str, push: bool = False, no_backup: bool = False, dry_run: bool = False) -> dict:
        """One sync round with the remotes (all when none named)."""
        return self.call("sync", remotes=list(remotes) or None, push=push or None, no_backup=no_backup or None,
                         dry_run=dry_run or None)

    def export(self, model_id: str, version: int | None, path: str | os.PathLike) -> dict:
        """Write the model file to path and its metadata beside it (.json); the metadata."""
        return self.call("export", model=model_id, version=version, path=os.fspath(path))

    def import_(self, file: str | os.PathLike, *, metadata: str | os.PathLike | None = None,
                model_id: str | None = None, actor: str | None = None) -> dict:
        """Register a file exported by the original or by mreg; the version registered."""
        return self.call("import", file=os.fspath(file), metadata=os.fspath(metadata) if metadata else None,
                         id=model_id, actor=actor)

    def fsck(self) -> dict:
        """Check events, artifacts, the fold and state files: {ok, problems}, ok false with a line a problem.

        Raises (mreg.Corrupt, say) only when fsck cannot finish: an object it needs is missing."""
        return self.call("fsck")
