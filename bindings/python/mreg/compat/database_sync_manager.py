"""The original's ``app.coordination.database_sync_manager`` on mreg: a database kept in step across nodes.

The original pulled a node's SQLite file (rsync over tailscale, ssh or
vast.ai ssh, or a JSON export over HTTP) and inserted the rows missing
locally. Here the "database" is an mreg registry and every node is a git
remote of it, named after the node: one round with a node is
``mreg.Registry.sync(node)``, which fetches the node's whole event log,
checks it, merges it and folds it, so stage changes, metrics and tags made
on other nodes arrive too (README, "Full-log sync"; the original's
insert-only merge lost them). The circuit breaker is mreg's own, per
remote, with the original's numbers (README, Sync), kept by the registry so
it survives restarts.

What maps onto what:

* a node's URL is that of the first transport it supports, in the
  original's order: ``tailscale`` (``ssh://<tailscale_ip>:22/<path>``),
  ``vast_ssh`` (``ssh://<vast_ssh_host>:<vast_ssh_port>/workspace/ringrift/
  ai-service/data/model_registry``), ``ssh`` (``ssh://<ssh_host>:<ssh_port>/
  <path>``), ``http`` (``http_url``, a registry served by git over http),
  then ``git``: ``remote_db_path`` itself, a path or any URL git speaks
  (``file://``, ``git://``, ...). A path relative on a host is relative to
  the login directory (``~/``). A path ending in ``.db`` names the original's
  file and stands for the registry directory beside it
  (:func:`registry_dir_for`). One transport per node: a git remote has one
  URL, and mreg's breaker and sync record are per remote;
* the cluster description (the original's cluster YAML) is the registry's
  git remotes: each one not already a node becomes one;
* nodes share one history: mreg merges registries that grew from one (a
  node joins with ``mreg clone``, or by a first pull into an empty or absent
  registry, which takes the node's history whole). A registry made apart is
  refused as unrelated, with nothing changed; the original merged the rows
  of any two files of its schema;
* the state file (``state_path``) is the original's, written as it wrote it.

Everything goes through :class:`mreg.Registry`; nothing here reads the
registry's files. Each piece of work opens its own handle (under a
millisecond): a handle keeps the git config it was opened with, so a remote
added since is not seen through an older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator

import mreg

logger = logging.getLogger(__name__)

__all__ = ["BaseSyncProgress", "DatabaseSyncState", "SyncNodeInfo", "CircuitBreakerConfig", "CoordinatorStatus",
           "HealthCheckResult", "SyncManagerBase", "DatabaseSyncManager", "registry_dir_for"]

TRANSPORTS = ("tailscale", "vast_ssh", "ssh", "http", "git")
VAST_REMOTE_PATH = "/workspace/ringrift/ai-service/data/model_registry.db"
DISCOVERY_MAX_AGE = 300.0  # seconds: a node list older than this is discovered again before a sync


# ---- progress records ------------------------------------------------------


@dataclass
class BaseSyncProgress:
    """The original's ``BaseSyncProgress``: the cluster loop's progress (6 keys in the state file)."""

    last_sync_timestamp: float = 0.0
    synced_nodes: set[str] = field(default_factory=set)
    pending_syncs: set[str] = field(default_factory=set)
    failed_nodes: set[str] = field(default_factory=set)
    sync_count: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field; the sets as lists (sorted, so the file is stable)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = sorted(v) if isinstance(v, set) else v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BaseSyncProgress":
        """Missing keys take their defaults, unknown keys are ignored, lists become sets."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name in ("synced_nodes", "pending_syncs", "failed_nodes"):
                v = set(v or ())
            kwargs[f.name] = v
        return cls(**kwargs)


@dataclass
class DatabaseSyncState(BaseSyncProgress):
    """The original's ``DatabaseSyncState``: the database's sync record (12 keys in the state file).

    ``local_hash`` holds the registry's HEAD after the last pull (the
    original's hash of its file); ``merge_conflicts`` counts the versions a
    merge renumbered and the promotions it turned into conflicts (the
    original kept the local row of a same-id conflict silently).
    """

    local_record_count: int = 0
    local_hash: str = ""
    synced_from: str = ""
    merge_conflicts: int = 0
    total_syncs: int = 0
    successful_syncs: int = 0


@dataclass
class SyncNodeInfo:
    """The original's ``SyncNodeInfo``: a node and the ways to reach it (see the module's docstring)."""

    name: str
    tailscale_ip: str | None = None
    ssh_host: str | None = None
    ssh_port: int = 22
    http_url: str | None = None
    vast_ssh_host: str | None = None
    vast_ssh_port: int | None = None
    is_coordinator: bool = False
    last_seen: float = 0.0
    reachable: bool = True
    remote_db_path: str = ""
    record_count: int = 0


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


@dataclass
class CircuitBreakerConfig:
    """The original's breaker settings, read from its environment variables at construction.

    mreg's breaker is the one that acts (``mreg sync``'s, per remote); it takes
    its settings from git config (``mreg.breaker.failureThreshold``,
    ``recoveryTimeout``, ``halfOpenMaxCalls``, ``maxBackoff``, ``jitter``), with
    these same defaults. The C API has no call to set them, so the
    ``RINGRIFT_CB_*`` variables are reported here and not applied: set the
    git config keys to change the breaker.
    """

    failure_threshold: int = field(default_factory=lambda: int(_env_number("RINGRIFT_CB_FAILURE_THRESHOLD", 5)))
    recovery_timeout: float = field(default_factory=lambda: _env_number("RINGRIFT_CB_RECOVERY_TIMEOUT", 60.0))
    half_open_max_calls: int = field(default_factory=lambda: int(_env_number("RINGRIFT_CB_HALF_OPEN_MAX_CALLS", 2)))
    max_backoff: float = field(default_factory=lambda: _env_number("RINGRIFT_CB_MAX_BACKOFF", 180.0))
    jitter: float = 0.1
    max_timeout: float = 300.0


class CoordinatorStatus(str, Enum):
    """The original's status values of ``HealthCheckResult`` (``app.coordination.protocols``)."""

    RUNNING = "running"
    STOPPED = "stopped"
    DEGRADED = "degraded"
    ERROR = "error"


@dataclass
class HealthCheckResult:
    """The original's ``HealthCheckResult`` (``app.coordination.protocols``)."""

    healthy: bool
    status: CoordinatorStatus = CoordinatorStatus.RUNNING
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "status": self.status.value, "message": self.message,
                "details": dict(self.details)}


# ---- paths and URLs ----------------------------------------------------------


def registry_dir_for(path: str | os.PathLike) -> Path:
    """The mreg registry directory a path of the original names.

    A path ending in ``.db`` that is not itself a directory named the
    original's SQLite file: ``<dir>/registry.db`` (ModelRegistry's) stands for
    ``<dir>``, ``<x>.db`` for ``<x>`` (``data/model_registry.db`` for
    ``data/model_registry``, mreg's default registry). Any other path is the
    registry directory itself.
    """
    p = Path(path)
    if p.suffix != ".db" or p.is_dir():
        return p
    return p.parent if p.name == "registry.db" else p.with_suffix("")


def _remote_path(path: str) -> str:
    """A registry path on another host, for an ssh:// URL (relative: under the login directory)."""
    p = str(registry_dir_for(path)) if path.endswith(".db") else path
    return p if p.startswith("/") else "/~/" + p


def node_url(node: SyncNodeInfo, transport: str, default_path: str) -> str | None:
    """The git URL of a node over one transport, or None when the node lacks what it needs."""
    path = node.remote_db_path or default_path
    if transport == "tailscale":
        return "ssh://%s:22%s" % (node.tailscale_ip, _remote_path(path)) if node.tailscale_ip else None
    if transport == "vast_ssh":
        if not node.vast_ssh_host or not node.vast_ssh_port:
            return None
        return "ssh://%s:%d%s" % (node.vast_ssh_host, node.vast_ssh_port, _remote_path(VAST_REMOTE_PATH))
    if transport == "ssh":
        return "ssh://%s:%d%s" % (node.ssh_host, node.ssh_port or 22, _remote_path(path)) if node.ssh_host else None
    if transport == "http":
        return node.http_url or None
    if transport == "git":
        if not node.remote_db_path:
            return None
        u = node.remote_db_path
        if "://" in u:
            scheme, rest = u.split("://", 1)
            return scheme + "://" + str(registry_dir_for(rest)) if scheme == "file" else u
        return str(registry_dir_for(u))
    return None


def node_transport(node: SyncNodeInfo, default_path: str) -> tuple[str, str] | None:
    """The first transport a node supports and its URL, in the original's order (then ``git``)."""
    for t in TRANSPORTS:
        if t == "git" and (node.tailscale_ip or node.ssh_host or node.vast_ssh_host or node.http_url):
            break  # remote_db_path is a path on that host, not a URL of its own
        url = node_url(node, t, default_path)
        if url:
            return t, url
    return None


def _iso_epoch(s: str | None) -> float | None:
    """mreg's UTC times (``2026-01-02T03:04:05.123456Z``) as epoch seconds."""
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _http_get(url: str, timeout: float) -> tuple[int, Any]:
    """GET url: (status, parsed JSON body or None)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (the P2P orchestrator's URL)
        body = r.read()
        try:
            return r.status, json.loads(body) if body else None
        except ValueError:
            return r.status, None


# ---- the managers -----------------------------------------------------------


class SyncManagerBase(ABC):
    """The original's ``app.coordination.sync_base.SyncManagerBase``: the cluster loop over nodes.

    It keeps ``_state`` (a :class:`BaseSyncProgress`), the node table and the
    loop (``start``/``stop``); subclasses say how one node is synced
    (``_do_sync``) and what the breaker says (``_circuit_is_open``).
    ``_state`` starts from ``state_path`` when that file exists (its six keys;
    others are ignored), so the round count survives a restart.
    """

    def __init__(self, state_path: Path, sync_interval: float = 600.0,
                 circuit_breaker_config: CircuitBreakerConfig | None = None) -> None:
        self.state_path = Path(state_path)
        self.sync_interval = float(sync_interval)
        self.circuit_breaker_config = circuit_breaker_config or CircuitBreakerConfig()
        self.nodes: dict[str, SyncNodeInfo] = {}
        self._running = False
        self._sync_lock = asyncio.Lock()
        self._stop_event: asyncio.Event | None = None
        self._state = BaseSyncProgress.from_dict(self._read_state_file() or {})

    # the state file

    def _read_state_file(self) -> dict[str, Any] | None:
        try:
            with open(self.state_path, encoding="utf-8") as f:
                d = json.load(f)
            return d if isinstance(d, dict) else None
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            logger.warning("cannot read the sync state %s: %s", self.state_path, e)
            return None

    def _write_state_file(self, d: dict[str, Any]) -> None:
        """Write d to state_path whole (a new file renamed over the old); errors are logged."""
        try:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_name(self.state_path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(d, f, indent=2)
            os.replace(tmp, self.state_path)
        except OSError as e:
            logger.warning("cannot write the sync state %s: %s", self.state_path, e)

    def _save_state(self) -> None:
        self._write_state_file(self._state.to_dict())

    # what subclasses say

    @abstractmethod
    async def _do_sync(self, node: str) -> bool:
        """Sync with one node: True when it worked."""

    def _circuit_is_open(self, node: str) -> bool:
        return False

    def _circuit_states(self) -> dict[str, str]:
        return {}

    # the loop

    async def sync_with_node(self, node: str) -> bool:
        """One node: False at once while its circuit is open; else ``_do_sync``, recorded in ``_state``."""
        if self._circuit_is_open(node):
            logger.debug("circuit open for %s: not trying", node)
            return False
        try:
            ok = bool(await self._do_sync(node))
        except Exception as e:  # a failure like any other, with its words kept
            logger.warning("sync with %s failed: %s", node, e)
            self._state.failed_nodes.add(node)
            self._state.last_error = str(e)
            return False
        if ok:
            self._state.synced_nodes.add(node)
            self._state.failed_nodes.discard(node)
        else:
            self._state.failed_nodes.add(node)
        return ok

    async def sync_with_cluster(self, max_concurrent: int = 1) -> dict[str, bool]:
        """Every known node, at most ``max_concurrent`` at once: ``{node: success}``; ``{}`` with no nodes."""
        async with self._sync_lock:
            if not self.nodes:
                return {}
            sem = asyncio.Semaphore(max(1, int(max_concurrent)))
            names = list(self.nodes)

            async def one(name: str) -> bool:
                async with sem:
                    return await self.sync_with_node(name)

            done = await asyncio.gather(*(one(n) for n in names))
            results = dict(zip(names, done))
            self._state.last_sync_timestamp = time.time()
            self._state.sync_count += 1
            self._save_state()
            return results

    async def start(self) -> None:
        """Sync with the cluster every ``sync_interval`` seconds until :meth:`stop` (run it as a task)."""
        if self._running:
            return
        self._running = True
        self._stop_event = asyncio.Event()
        try:
            while self._running:
                try:
                    await self.sync_with_cluster()
                except Exception as e:
                    logger.warning("sync round failed: %s", e)
                if not self._running:
                    break
                try:
                    await asyncio.wait_for(self._stop_event.wait(), timeout=self.sync_interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._running = False

    async def stop(self) -> None:
        """End the loop (it wakes from its sleep) and write ``_state`` to ``state_path``."""
        self._running = False
        if self._stop_event is not None:
            self._stop_event.set()
        self._save_state()

    def get_status(self) -> dict[str, Any]:
        return {"running": self._running, "state": self._state.to_dict(), "circuit_breaker": self._circuit_states()}


class DatabaseSyncManager(SyncManagerBase):
    """The original's ``DatabaseSyncManager`` over an mreg registry (see the module's docstring).

    ``db_path`` is the path given (the original's database file);
    ``registry_dir`` is the registry it stands for (:func:`registry_dir_for`).
    Construction reads only the state file; the registry is opened when
    first needed, and created by the first pull into a node that has none
    (an empty registry takes the remote's history whole), where the
    original's merge into a missing file failed.
    """

    def __init__(self, db_path: Path, state_path: Path, db_type: str, coordinator_host: str = "nebius-backbone-1",
                 sync_interval: float = 600.0, p2p_url: str | None = None, enable_merge: bool = True,
                 require_move_data: bool = False, circuit_breaker_config: CircuitBreakerConfig | None = None) -> None:
        super().__init__(state_path, sync_interval, circuit_breaker_config)
        self.db_path = Path(db_path)
        self.registry_dir = registry_dir_for(self.db_path)
        self.db_type = db_type
        self.coordinator_host = coordinator_host
        self.p2p_url = p2p_url or self._default_p2p_url()
        self.enable_merge = enable_merge
        self.require_move_data = require_move_data
        self._db_state = DatabaseSyncState.from_dict(self._read_state_file() or {})
        self._on_sync_complete_callbacks: list[Callable[..., Any]] = []
        self._on_sync_failed_callbacks: list[Callable[..., Any]] = []
        self._last_discovery = 0.0
        self._discovery_retries = 3
        self._discovery_backoff = 2.0
        self._discovery_timeout = 10.0
        self._remote_lock = threading.Lock()

    @staticmethod
    def _default_p2p_url() -> str:
        for k in ("RINGRIFT_P2P_URL", "P2P_URL", "P2P_ORCHESTRATOR_URL"):
            if os.environ.get(k):
                return os.environ[k]
        return "http://127.0.0.1:%s" % (os.environ.get("RINGRIFT_P2P_PORT") or 8770)

    @property
    def state(self) -> DatabaseSyncState:
        """The database's sync record, loaded from ``state_path`` at construction; never None."""
        return self._db_state

    def _get_remote_db_path(self) -> str:
        """The database's path on another node, relative to its login directory."""
        return "ai-service/data/%s.db" % self.db_type

    # the registry

    @contextlib.contextmanager
    def _session(self, create: bool = False) -> Iterator[mreg.Registry | None]:
        """A handle on the registry for one piece of work (None: no registry and not ``create``).

        A handle keeps the git config it was opened with, so a remote added
        since (by this manager or ``mreg remote add``) is seen only through a
        new one; opening takes well under a millisecond. Each piece of work
        has its own, so concurrent syncs never share one that another closes.
        """
        try:
            reg = mreg.Registry(self.registry_dir, create=create)
        except mreg.Error:
            if create:
                raise
            reg = None
        try:
            yield reg
        finally:
            if reg is not None:
                reg.close()

    def _db_exists(self) -> bool:
        with self._session() as reg:
            return reg is not None

    @staticmethod
    def _remotes(reg: mreg.Registry) -> dict[str, str | None]:
        return {r["name"]: r.get("url") for r in reg.call("remote_list")}

    def _ensure_remote(self, name: str, url: str) -> None:
        """The node's remote pointing at url (a different URL: the node moved; its record starts anew)."""
        with self._remote_lock:
            with self._session(create=True) as reg:
                assert reg is not None
                have = self._remotes(reg)
                if name in have and have[name] in (url, url if "://" in url else os.path.realpath(url)):
                    return
                if name in have:
                    reg.call("remote_remove", name=name)
            with self._session() as reg:  # a new handle: the old one still sees the removed remote
                assert reg is not None
                reg.call("remote_add", name=name, url=url)

    def _breakers(self) -> dict[str, dict[str, Any]]:
        """mreg's sync record per remote (``sync_status``), or {} without a registry."""
        with self._session() as reg:
            if reg is None:
                return {}
            try:
                return {r["name"]: r for r in reg.call("sync_status")["remotes"]}
            except mreg.Error as e:
                logger.warning("cannot read the sync status of %s: %s", self.registry_dir, e)
                return {}

    def _circuit_is_open(self, node: str) -> bool:
        """Open and not yet due: mreg's sync would skip the node."""
        r = self._breakers().get(node)
        if not r or r["breaker"]["state"] != "open":
            return False
        until = _iso_epoch(r["breaker"].get("open_until"))
        return until is None or until > time.time()

    def _circuit_states(self) -> dict[str, str]:
        """Node -> ``closed``, ``open`` or ``half_open``, for the remotes a sync has tried."""
        return {n: r["breaker"]["state"] for n, r in self._breakers().items() if r.get("last_try")}

    # callbacks

    def on_sync_complete(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(node, transport, state)`` after each successful sync (may be a coroutine function)."""
        self._on_sync_complete_callbacks.append(callback)

    def on_sync_failed(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(node, "all_transports_failed", state)`` after each failed sync."""
        self._on_sync_failed_callbacks.append(callback)

    async def _notify(self, callbacks: list[Callable[..., Any]], *args: Any) -> None:
        for cb in list(callbacks):
            try:
                r = cb(*args)
                if inspect.isawaitable(r):
                    await r
            except (TypeError, AttributeError, RuntimeError) as e:
                logger.debug("sync callback %r failed: %s", cb, e)

    # discovery

    async def discover_nodes(self) -> None:
        """Fill ``nodes``: the P2P orchestrator's peers, then each git remote not already a node.

        ``GET <p2p_url>/status`` is tried ``3`` times, 10 s each, waiting 2 s
        then 4 s between; its ``peers`` (a dict's values or a list; strings
        skipped) become nodes. The registry's remotes stand for the
        original's cluster YAML and are read every time (the original read
        it only when the orchestrator did not answer). Entries are
        overwritten by name and never removed.
        """
        now = time.time()
        for attempt in range(self._discovery_retries):
            try:
                status, body = await asyncio.to_thread(_http_get, self.p2p_url.rstrip("/") + "/status",
                                                       self._discovery_timeout)
            except (OSError, urllib.error.URLError, ValueError) as e:
                logger.debug("P2P discovery at %s: %s", self.p2p_url, e)
                status, body = 0, None
            if status == 200:
                self._add_peers(body, now)
                break
            if attempt + 1 < self._discovery_retries:
                await asyncio.sleep(self._discovery_backoff * (2 ** attempt))
        try:
            remotes = await asyncio.to_thread(self._remote_table)
        except mreg.Error as e:
            logger.warning("cannot list the remotes of %s: %s", self.registry_dir, e)
            remotes = {}
        for name, url in remotes.items():
            if name not in self.nodes and url and not name.startswith("merge-"):
                self.nodes[name] = SyncNodeInfo(name=name, remote_db_path=url, last_seen=now)
        self._last_discovery = now

    def _remote_table(self) -> dict[str, str | None]:
        with self._session() as reg:
            return self._remotes(reg) if reg is not None else {}

    def _add_peers(self, body: Any, now: float) -> None:
        peers = body.get("peers") if isinstance(body, dict) else None
        if isinstance(peers, dict):
            peers = list(peers.values())
        for p in peers or []:
            if not isinstance(p, dict):
                continue
            name = p.get("node_id") or p.get("host") or "unknown"
            self.nodes[name] = SyncNodeInfo(name=name, tailscale_ip=p.get("tailscale_ip"), ssh_host=p.get("ssh_host"),
                                            ssh_port=int(p.get("ssh_port") or 22), http_url=p.get("http_url"),
                                            remote_db_path=self._get_remote_db_path(), last_seen=now)

    # one node

    async def _do_sync(self, node: str) -> bool:
        """Pull one node over the first transport it supports; callbacks with the outcome."""
        if not self.nodes or time.time() - self._last_discovery > DISCOVERY_MAX_AGE:
            await self.discover_nodes()
        info = self.nodes.get(node)
        if info is None:
            logger.warning("unknown node %s", node)
            return False
        self._db_state.total_syncs += 1
        chosen = node_transport(info, self._get_remote_db_path())
        ok = False
        if chosen is not None:
            ok = bool(await getattr(self, "_sync_via_" + chosen[0])(info))
        if ok:
            assert chosen is not None
            self._db_state.synced_from = "%s:%s" % (node, chosen[0])
            self._db_state.successful_syncs += 1
            await self._notify(self._on_sync_complete_callbacks, node, chosen[0], self._db_state)
        else:
            await self._notify(self._on_sync_failed_callbacks, node, "all_transports_failed", self._db_state)
        return ok

    async def _sync_via_tailscale(self, node: SyncNodeInfo) -> bool:
        """Pull over ssh to the node's tailscale IP, port 22; False at once without one."""
        return await self._pull_url(node, node_url(node, "tailscale", self._get_remote_db_path()))

    async def _sync_via_vast_ssh(self, node: SyncNodeInfo) -> bool:
        """Pull over ssh to ``vast_ssh_host:vast_ssh_port``; False at once without both."""
        return await self._pull_url(node, node_url(node, "vast_ssh", self._get_remote_db_path()))

    async def _sync_via_ssh(self, node: SyncNodeInfo) -> bool:
        """Pull over ssh to ``ssh_host:ssh_port``; False at once without a host."""
        return await self._pull_url(node, node_url(node, "ssh", self._get_remote_db_path()))

    async def _sync_via_http(self, node: SyncNodeInfo) -> bool:
        """Pull from ``http_url``, a registry served by git over http(s); False at once without one."""
        return await self._pull_url(node, node_url(node, "http", self._get_remote_db_path()))

    async def _sync_via_git(self, node: SyncNodeInfo) -> bool:
        """Pull from ``remote_db_path`` as a path or URL (mreg's own transport); False without one."""
        return await self._pull_url(node, node_url(node, "git", self._get_remote_db_path()))

    async def _pull_url(self, node: SyncNodeInfo, url: str | None) -> bool:
        """Pull a node from url; on success the counts, the pull's time and ``state`` to ``state_path``."""
        if not url:
            return False
        report = await asyncio.to_thread(self._pull, node.name, url)
        if report is None:
            return False
        self._db_state.merge_conflicts += len(report.get("conflicts") or []) + \
            len(report.get("versions_renumbered") or [])
        self._db_state.local_hash = report.get("head") or self._db_state.local_hash
        self._update_local_stats()
        self._db_state.last_sync_timestamp = time.time()
        self._write_state_file(self._db_state.to_dict())
        return True

    def _pull(self, name: str, url: str) -> dict[str, Any] | None:
        """One ``sync`` round with the node's remote: its report, or None (logged) when it failed."""
        try:
            self._ensure_remote(name, url)
            with self._session() as reg:
                if reg is None:
                    return None
                report = reg.sync(name)
        except (mreg.Error, OSError) as e:
            logger.warning("sync with %s (%s) failed: %s", name, url, e)
            return None
        r = next((x for x in report.get("remotes", []) if x.get("name") == name), None)
        if r is None or r.get("result") != "ok":
            logger.warning("sync with %s (%s): %s", name, url, r and (r.get("error") or r.get("result")))
            return None
        return report

    def _merge_from(self, source: str | os.PathLike) -> bool:
        """Merge another registry (a path, an original-style ``.db`` path, or a URL) into this one, once.

        A remote named ``merge-<hash of the URL>`` is added for the round and
        removed after it (the events stay: they are this registry's now).
        """
        s = os.fspath(source)
        url = node_url(SyncNodeInfo(name="merge", remote_db_path=s), "git", "") or s
        name = "merge-" + hashlib.sha1(url.encode()).hexdigest()[:12]
        ok = self._pull(name, url) is not None
        try:
            with self._remote_lock, self._session() as reg:
                if reg is not None and name in self._remotes(reg):
                    reg.call("remote_remove", name=name)
        except mreg.Error as e:
            logger.warning("cannot remove remote %s: %s", name, e)
        return ok

    def _update_local_stats(self) -> None:
        """Subclasses count what their database holds."""

    # status

    def get_status(self) -> dict[str, Any]:
        """running, state, circuit_breaker, db_type, db_path, db_exists, db_state, node_count, nodes."""
        out = super().get_status()
        out.update({"db_type": self.db_type, "db_path": str(self.db_path), "db_exists": self._db_exists(),
                    "db_state": self._db_state.to_dict(), "node_count": len(self.nodes), "nodes": list(self.nodes)})
        return out

    def _p2p_healthy(self) -> bool:
        try:
            status, _ = _http_get(self.p2p_url.rstrip("/") + "/health", 2.0)
            return status == 200
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def health_check(self) -> HealthCheckResult:
        """STOPPED when not running, DEGRADED without the registry, else by success rate and last sync's age."""
        try:
            if not self._running:
                return HealthCheckResult(False, CoordinatorStatus.STOPPED, "%s sync manager not running" % self.db_type,
                                         {"db_type": self.db_type})
            if not self._db_exists():
                return HealthCheckResult(False, CoordinatorStatus.DEGRADED, "registry not found: '%s'" % self.db_path,
                                         {"db_type": self.db_type, "db_path": str(self.db_path)})
            st = self._db_state
            rate = st.successful_syncs / st.total_syncs if st.total_syncs else 1.0
            age = time.time() - st.last_sync_timestamp
            healthy = rate >= 0.5 and age < 2 * self.sync_interval
            p2p = self._p2p_healthy()
            status = CoordinatorStatus.RUNNING if healthy and p2p else CoordinatorStatus.DEGRADED
            words = []
            if rate < 0.5:
                words.append("sync success rate %.0f%%" % (rate * 100))
            if age >= 2 * self.sync_interval:
                words.append("last sync %.0f s ago" % age)
            if not p2p:
                words.append("P2P orchestrator not answering at %s" % self.p2p_url)
            return HealthCheckResult(healthy, status, "; ".join(words) or "%s sync healthy" % self.db_type, {
                "db_type": self.db_type, "db_path": str(self.db_path), "local_record_count": st.local_record_count,
                "sync_rate": rate, "last_sync_age_seconds": age, "synced_from": st.synced_from,
                "node_count": len(self.nodes), "p2p_healthy": p2p, "p2p_url": self.p2p_url})
        except Exception as e:
            return HealthCheckResult(False, CoordinatorStatus.ERROR, "health check failed: %s" % e, {})
