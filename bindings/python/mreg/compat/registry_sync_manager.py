"""The original's ``app.training.registry_sync_manager`` on mreg: the model registry kept in step across nodes.

    from mreg.compat.registry_sync_manager import RegistrySyncManager

    manager = RegistrySyncManager()            # data/model_registry, every 600 s
    await manager.initialize()                 # nodes: the P2P orchestrator's peers and the git remotes
    results = await manager.sync_with_cluster()

Each node is a git remote of the registry, named after the node, and one
sync with it is one ``mreg sync`` round (``mreg.Registry.sync``): the node's
whole event log is fetched, checked and merged, so every change made on
any node converges (README, "Full-log sync"). The original copied the rows
of ``models`` and ``versions`` missing locally from the node's SQLite file
and lost everything else: stage changes, metrics, tags and history made on
other nodes. The circuit breaker per node is mreg's own per remote, with
the original's numbers, kept in the registry so it survives restarts. See
:mod:`mreg.compat.database_sync_manager` for how a node's fields map to a
URL, and bindings/python/README.md for every difference.

``DEFAULT_REGISTRY_PATH`` keeps the original's value
(``<AI_SERVICE_ROOT>/data/model_registry.db``); the registry it stands for
is the directory ``data/model_registry`` beside it, mreg's default registry
(:func:`~mreg.compat.database_sync_manager.registry_dir_for`).
``AI_SERVICE_ROOT`` is the working directory at import, where mreg's
default registry ``data/model_registry`` lives (the original's was the
directory of its code).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import mreg

from ._common import AI_SERVICE_ROOT

from .database_sync_manager import DatabaseSyncManager, DatabaseSyncState, HealthCheckResult, SyncNodeInfo
from .database_sync_manager import registry_dir_for  # noqa: F401 (for callers mapping the original's paths)

logger = logging.getLogger(__name__)

__all__ = ["RegistrySyncManager", "RegistrySyncState", "SyncState", "NodeInfo"]

DEFAULT_REGISTRY_PATH = AI_SERVICE_ROOT / "data" / "model_registry.db"
SYNC_STATE_PATH = AI_SERVICE_ROOT / "data" / "registry_sync_state.json"

RegistrySyncState = DatabaseSyncState
SyncState = DatabaseSyncState
NodeInfo = SyncNodeInfo


class RegistrySyncManager(DatabaseSyncManager):
    """The model registry's sync manager (``db_type`` ``"registry"``).

    Construction reads only the state file (``SYNC_STATE_PATH``, looked up
    when the manager is made); the registry need not exist and nothing is
    created. ``registry_path`` names the registry as the original named its
    database: a directory, or a ``.db`` path standing for the directory
    beside it.
    """

    def __init__(self, registry_path: Path = DEFAULT_REGISTRY_PATH, coordinator_host: str = "nebius-backbone-1",
                 sync_interval: int = 600, p2p_url: str | None = None) -> None:
        super().__init__(db_path=Path(registry_path), state_path=SYNC_STATE_PATH, db_type="registry",
                         coordinator_host=coordinator_host, sync_interval=sync_interval, p2p_url=p2p_url,
                         enable_merge=True, require_move_data=False)
        self._model_count = 0
        self._version_count = 0
        self._current_sync_source: str | None = None

    @property
    def registry_path(self) -> Path:
        """The path given (``db_path``)."""
        return self.db_path

    def _get_remote_db_path(self) -> str:
        return "ai-service/data/model_registry.db"

    def _update_local_stats(self) -> None:
        """Refresh ``_model_count`` (also ``state.local_record_count``) and ``_version_count``.

        From the registry's status; with no registry nothing changes. Errors
        are logged, never raised.
        """
        try:
            with self._session() as reg:
                if reg is None:
                    return
                st = reg.status()
        except mreg.Error as e:
            logger.warning("cannot count the registry %s: %s", self.registry_dir, e)
            return
        self._model_count = int(st["models"])
        self._version_count = int(st["versions"])
        self._db_state.local_record_count = self._model_count

    def get_sync_status(self) -> dict[str, Any]:
        """The original's six keys; the counts as last refreshed by ``_update_local_stats``.

        ``synced_nodes`` maps each name of ``state.synced_nodes`` to ``0.0``
        and ``circuit_breakers`` is always ``{}``, as the original's: the
        breakers are in ``get_status()["circuit_breaker"]``.
        """
        return {"last_sync": self._db_state.last_sync_timestamp, "local_models": self._model_count,
                "local_versions": self._version_count,
                "synced_nodes": {n: 0.0 for n in sorted(self._db_state.synced_nodes)},
                "nodes_available": len(self.nodes), "circuit_breakers": {}}

    def health_check(self) -> HealthCheckResult:
        """See :meth:`DatabaseSyncManager.health_check`; never raises."""
        return super().health_check()

    async def initialize(self) -> None:
        """Reload the state file, discover nodes (through ``self.discover_nodes``), refresh the counts."""
        d = self._read_state_file()
        if d is not None:
            self._db_state = DatabaseSyncState.from_dict(d)
        await self.discover_nodes()
        self._update_local_stats()

    async def _do_sync(self, node: str) -> bool:
        self._current_sync_source = node
        try:
            return await super()._do_sync(node)
        finally:
            self._current_sync_source = None

    async def ensure_latest(self) -> bool:
        """True at once when the last pull is under ``sync_interval`` old; else a round: did any node sync."""
        if time.time() - self._db_state.last_sync_timestamp < self.sync_interval:
            return True
        results = await self.sync_with_cluster()
        return any(results.values())

    async def _merge_databases(self, remote_db_path: Path) -> bool:
        """Merge another registry into this one: True when it worked, False (logged) when not.

        ``remote_db_path`` is a registry directory, a ``.db`` path standing for
        one, or a URL. The original inserted the rows missing locally in one
        transaction; here the other registry's whole event log is merged in
        one ``sync`` round (after the pre-sync backup), so changes made on the
        other side to versions both have arrive too (stages, metrics, tags),
        and a failure leaves this registry as it was. A registry that does not exist yet is created and takes
        the other's history; two registries that did not grow from one
        history are refused (False), where the original merged any two files.
        Like the original's, it does not refresh the local counts.
        """
        return await asyncio.to_thread(self._merge_from, remote_db_path)

