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
