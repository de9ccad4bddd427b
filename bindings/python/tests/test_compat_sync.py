"""mreg.compat.registry_sync_manager (and database_sync_manager): the original's sync manager (ORIGINAL-API.md 5)
over real registries on this machine as nodes (their paths and file:// URLs as git remotes), and a real HTTP
server on 127.0.0.1 as the P2P orchestrator."""

import asyncio
import dataclasses
import http.server
import inspect
import json
import socket
import subprocess
import threading
from abc import ABC
from pathlib import Path

import pytest

import mreg
from mreg.compat import database_sync_manager as dsm
from mreg.compat import registry_sync_manager as rsm
from mreg.compat.registry_sync_manager import NodeInfo, RegistrySyncManager, RegistrySyncState, SyncState


@pytest.fixture(autouse=True)
def state_path(tmp_path, monkeypatch):
    """Every manager's state file in the test's directory, and no P2P settings from the environment."""
    p = tmp_path / "registry_sync_state.json"
    monkeypatch.setattr(rsm, "SYNC_STATE_PATH", p)
    for k in ("RINGRIFT_P2P_URL", "P2P_URL", "P2P_ORCHESTRATOR_URL", "RINGRIFT_P2P_PORT",
              "RINGRIFT_CB_FAILURE_THRESHOLD", "RINGRIFT_CB_RECOVERY_TIMEOUT", "RINGRIFT_CB_HALF_OPEN_MAX_CALLS",
              "RINGRIFT_CB_MAX_BACKOFF"):
        monkeypatch.delenv(k, raising=False)
    return p


@pytest.fixture
def dead_url():
    """A URL on 127.0.0.1 where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


class _Orchestrator(http.server.ThreadingHTTPServer):
    status_body: object = {"peers": {}}
    status_code = 200
    hits: list


@pytest.fixture
def p2p():
    """A P2P orchestrator: GET /status answers status_body, GET /health 200; hits records the paths asked."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            srv = self.server
            srv.hits.append(self.path)
            code, body = (srv.status_code, srv.status_body) if self.path == "/status" else (200, {"ok": True})
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = _Orchestrator(("127.0.0.1", 0), Handler)
    srv.hits = []
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    srv.url = "http://127.0.0.1:%d" % srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def node(tmp_path, model_file):
    """node(name, *models): a registry at tmp_path/name with a version of each model; its path.

    The nodes of one test share one history, as the nodes of a cluster do (mreg syncs registries that grew
    from one: a node joins by a first sync into an empty registry, or by mreg clone): each starts from a
    root registry holding the model 'base'.
    """
    root = tmp_path / "root"
    with mreg.Registry(root) as reg:
        reg.register("base", model_file("base.pt"))

    def make(name, *models, **kw):
        path = tmp_path / name
        with mreg.Registry(path) as reg:
            reg.call("remote_add", name="root", url=str(root))
        with mreg.Registry(path) as reg:  # a handle sees the remotes of when it was opened
            assert reg.sync("root", no_backup=True)["ok"]
            reg.call("remote_remove", name="root")
            for m in models:
                reg.register(m, model_file(name + "-" + m + ".pt"), **kw)
        return path

    return make


@pytest.fixture
def manager(tmp_path, dead_url):
    """manager(path): a RegistrySyncManager on path, its P2P orchestrator unreachable and retried at once."""

    def make(path=None, **kw):
        kw.setdefault("p2p_url", dead_url)
        m = RegistrySyncManager(path if path is not None else tmp_path / "local", **kw)
        m._discovery_backoff = 0.0
        return m

    return make


def run(coro):
    return asyncio.run(coro)


def git(path, *args):
    subprocess.run(["git", "-C", str(path)] + list(args), check=True, capture_output=True)


def remotes(path):
    with mreg.Registry(path, create=False) as reg:
        return {r["name"]: r for r in reg.call("sync_status")["remotes"]}


def models(path):
    """(model, version) of every version but the root's 'base', sorted."""
    with mreg.Registry(path, create=False) as reg:
        return sorted((v["model_id"], v["version"]) for v in reg.list() if v["model_id"] != "base")


# ---- module ---------------------------------------------------------------------------------------------------


def test_all_holds_exactly_the_four_names():
    assert sorted(rsm.__all__) == ["NodeInfo", "RegistrySyncManager", "RegistrySyncState", "SyncState"]


def test_state_and_node_names_are_aliases_of_the_database_sync_managers_classes():
    assert RegistrySyncState is dsm.DatabaseSyncState and SyncState is dsm.DatabaseSyncState
    assert NodeInfo is dsm.SyncNodeInfo
    assert rsm.DatabaseSyncManager is dsm.DatabaseSyncManager
    assert rsm.DatabaseSyncState is dsm.DatabaseSyncState and rsm.SyncNodeInfo is dsm.SyncNodeInfo
    assert issubclass(RegistrySyncManager, dsm.DatabaseSyncManager)
    assert issubclass(dsm.DatabaseSyncManager, dsm.SyncManagerBase) and issubclass(dsm.SyncManagerBase, ABC)
    assert issubclass(dsm.DatabaseSyncState, dsm.BaseSyncProgress)


def test_default_paths_are_the_originals_under_ai_service_root():
    assert rsm.DEFAULT_REGISTRY_PATH == rsm.AI_SERVICE_ROOT / "data" / "model_registry.db"
    assert rsm.AI_SERVICE_ROOT.is_absolute()
    assert inspect.signature(RegistrySyncManager).parameters["registry_path"].default == rsm.DEFAULT_REGISTRY_PATH


def test_sync_state_path_is_the_originals(monkeypatch):
    monkeypatch.undo()  # the module's own value
    assert rsm.SYNC_STATE_PATH == rsm.AI_SERVICE_ROOT / "data" / "registry_sync_state.json"


def test_get_registry_sync_manager_is_not_defined():
    with pytest.raises(ImportError):
        from mreg.compat.registry_sync_manager import get_registry_sync_manager  # noqa: F401


def test_no_circuit_breaker_class_is_exported():
    assert not any("breaker" in n.lower() for n in rsm.__all__)


# ---- SyncState / NodeInfo --------------------------------------------------------------------------------------


def test_sync_state_fields_in_order_with_their_defaults():
    s = SyncState()
    assert [f.name for f in dataclasses.fields(s)] == [
        "last_sync_timestamp", "synced_nodes", "pending_syncs", "failed_nodes", "sync_count", "last_error",
        "local_record_count", "local_hash", "synced_from", "merge_conflicts", "total_syncs", "successful_syncs"]
    assert (s.last_sync_timestamp, s.synced_nodes, s.pending_syncs, s.failed_nodes, s.sync_count, s.last_error) == \
        (0.0, set(), set(), set(), 0, None)
    assert (s.local_record_count, s.local_hash, s.synced_from, s.merge_conflicts, s.total_syncs,
            s.successful_syncs) == (0, "", "", 0, 0, 0)
    assert SyncState().synced_nodes is not s.synced_nodes  # a new set each


def test_sync_state_to_dict_gives_twelve_keys_with_sets_as_lists():
    s = SyncState(synced_nodes={"b", "a"}, failed_nodes={"c"}, sync_count=3, synced_from="a:git")
    d = s.to_dict()
    assert len(d) == 12
    assert d["synced_nodes"] == ["a", "b"] and d["failed_nodes"] == ["c"] and d["pending_syncs"] == []
    assert (d["sync_count"], d["synced_from"], d["last_error"]) == (3, "a:git", None)
    json.dumps(d)


def test_sync_state_from_dict_defaults_missing_ignores_unknown_and_makes_sets():
    s = SyncState.from_dict({"synced_nodes": ["x", "y"], "total_syncs": 4, "bogus": 1})
    assert s.synced_nodes == {"x", "y"} and isinstance(s.synced_nodes, set)
    assert s.total_syncs == 4 and s.successful_syncs == 0 and s.failed_nodes == set()
    assert SyncState.from_dict(SyncState(local_hash="h", merge_conflicts=2).to_dict()) == \
        SyncState(local_hash="h", merge_conflicts=2)


def test_base_progress_has_six_keys():
    assert list(dsm.BaseSyncProgress().to_dict()) == ["last_sync_timestamp", "synced_nodes", "pending_syncs",
                                                       "failed_nodes", "sync_count", "last_error"]


def test_node_info_fields_and_defaults():
    n = NodeInfo("gpu-1")
    assert [f.name for f in dataclasses.fields(n)] == [
        "name", "tailscale_ip", "ssh_host", "ssh_port", "http_url", "vast_ssh_host", "vast_ssh_port",
        "is_coordinator", "last_seen", "reachable", "remote_db_path", "record_count"]
    assert (n.tailscale_ip, n.ssh_host, n.ssh_port, n.http_url, n.vast_ssh_host, n.vast_ssh_port) == \
        (None, None, 22, None, None, None)
    assert (n.is_coordinator, n.last_seen, n.reachable, n.remote_db_path, n.record_count) == (False, 0.0, True, "", 0)
    with pytest.raises(TypeError):
        NodeInfo()


# ---- construction -------------------------------------------------------------------------------------------------


def test_construction_reads_nothing_but_the_state_file_and_creates_nothing(tmp_path, state_path):
    m = RegistrySyncManager(tmp_path / "absent" / "model_registry.db")
    assert not (tmp_path / "absent").exists() and not state_path.exists()
    assert m.nodes == {} and m.state == SyncState()


def test_constructor_attributes(tmp_path, state_path):
    p = tmp_path / "model_registry.db"
    m = RegistrySyncManager(p)
    assert m.db_path == p and m.registry_path == p and isinstance(m.registry_path, Path)
    assert m.registry_dir == tmp_path / "model_registry"
    assert (m.db_type, m.coordinator_host, m.enable_merge, m.require_move_data) == \
        ("registry", "nebius-backbone-1", True, False)
    assert m.sync_interval == 600 and isinstance(m.sync_interval, float)
    assert RegistrySyncManager(p, sync_interval=300).sync_interval == 300.0
    assert m.state_path == state_path
    assert (m._model_count, m._version_count) == (0, 0)
    assert m._on_sync_complete_callbacks == [] and m._on_sync_failed_callbacks == []
    assert m.state is m._db_state and isinstance(m._state, dsm.BaseSyncProgress)
    assert m._state is not m._db_state
    cb = m.circuit_breaker_config
    assert (cb.failure_threshold, cb.recovery_timeout, cb.half_open_max_calls, cb.max_backoff) == (5, 60.0, 2, 180.0)
    with pytest.raises(AttributeError):
        m.registry_path = p
    with pytest.raises(AttributeError):
        m.state = SyncState()


def test_registry_path_as_a_str_is_taken(tmp_path):
    assert RegistrySyncManager(str(tmp_path / "r")).db_path == tmp_path / "r"


def test_p2p_url_given_then_environment_then_local_default(monkeypatch):
    assert RegistrySyncManager(p2p_url="http://given:1").p2p_url == "http://given:1"
    assert RegistrySyncManager().p2p_url == "http://127.0.0.1:8770"
    monkeypatch.setenv("RINGRIFT_P2P_PORT", "9001")
    assert RegistrySyncManager().p2p_url == "http://127.0.0.1:9001"
    monkeypatch.setenv("P2P_ORCHESTRATOR_URL", "http://orch:3")
    assert RegistrySyncManager().p2p_url == "http://orch:3"
    monkeypatch.setenv("P2P_URL", "http://p2p:2")
    assert RegistrySyncManager().p2p_url == "http://p2p:2"
    monkeypatch.setenv("RINGRIFT_P2P_URL", "")
    assert RegistrySyncManager().p2p_url == "http://p2p:2"  # empty is skipped
    monkeypatch.setenv("RINGRIFT_P2P_URL", "http://ringrift:1")
    assert RegistrySyncManager().p2p_url == "http://ringrift:1"


def test_state_is_loaded_from_the_state_file_at_construction(state_path, tmp_path):
    state_path.write_text(json.dumps({"synced_from": "n:ssh", "successful_syncs": 2, "synced_nodes": ["n"],
                                      "unknown": True}))
    m = RegistrySyncManager(tmp_path / "r")
    assert (m.state.synced_from, m.state.successful_syncs, m.state.synced_nodes) == ("n:ssh", 2, {"n"})


def test_a_corrupt_state_file_gives_the_defaults(state_path, tmp_path):
    state_path.write_text("{not json")
    assert RegistrySyncManager(tmp_path / "r").state == SyncState()


def test_circuit_breaker_settings_from_the_originals_environment(monkeypatch):
    monkeypatch.setenv("RINGRIFT_CB_FAILURE_THRESHOLD", "3")
    monkeypatch.setenv("RINGRIFT_CB_RECOVERY_TIMEOUT", "30")
    monkeypatch.setenv("RINGRIFT_CB_HALF_OPEN_MAX_CALLS", "1")
    monkeypatch.setenv("RINGRIFT_CB_MAX_BACKOFF", "90")
    cb = RegistrySyncManager().circuit_breaker_config
    assert (cb.failure_threshold, cb.recovery_timeout, cb.half_open_max_calls, cb.max_backoff) == (3, 30.0, 1, 90.0)


def test_registry_dir_for_maps_the_originals_file_names(tmp_path):
    assert dsm.registry_dir_for("data/model_registry.db") == Path("data/model_registry")
    assert dsm.registry_dir_for("data/model_registry/registry.db") == Path("data/model_registry")
    assert dsm.registry_dir_for("data/model_registry") == Path("data/model_registry")
    (tmp_path / "odd.db").mkdir()
    assert dsm.registry_dir_for(tmp_path / "odd.db") == tmp_path / "odd.db"  # a directory is itself


def test_node_urls_per_transport_in_the_originals_order():
    rel = "ai-service/data/model_registry.db"
    n = NodeInfo("n", tailscale_ip="100.64.0.1", ssh_host="h", ssh_port=2222, http_url="https://hub/reg.git",
                 vast_ssh_host="v", vast_ssh_port=40022)
    assert dsm.node_url(n, "tailscale", rel) == "ssh://100.64.0.1:22/~/ai-service/data/model_registry"
    assert dsm.node_url(n, "ssh", rel) == "ssh://h:2222/~/ai-service/data/model_registry"
    assert dsm.node_url(n, "vast_ssh", rel) == "ssh://v:40022/workspace/ringrift/ai-service/data/model_registry"
    assert dsm.node_url(n, "http", rel) == "https://hub/reg.git"
    assert dsm.node_transport(n, rel) == ("tailscale", "ssh://100.64.0.1:22/~/ai-service/data/model_registry")
    assert dsm.node_transport(NodeInfo("n", ssh_host="h", remote_db_path="/srv/reg"), rel) == \
        ("ssh", "ssh://h:22/srv/reg")
    assert dsm.node_transport(NodeInfo("n", remote_db_path="/srv/model_registry.db"), rel) == \
        ("git", "/srv/model_registry")
    assert dsm.node_transport(NodeInfo("n", remote_db_path="file:///srv/x.db"), rel) == ("git", "file:///srv/x")
    assert dsm.node_transport(NodeInfo("n"), rel) is None
    assert dsm.node_url(NodeInfo("n", vast_ssh_host="v"), "vast_ssh", rel) is None  # no port


# ---- counts and status ----------------------------------------------------------------------------------------------


def test_get_sync_status_has_the_six_keys_with_cached_counts(node, manager):
    m = manager(node("local", "a", "b"))
    m.nodes["x"] = NodeInfo("x")
    m.state.synced_nodes.add("x")
    assert m.get_sync_status() == {"last_sync": 0.0, "local_models": 0, "local_versions": 0,
                                   "synced_nodes": {"x": 0.0}, "nodes_available": 1, "circuit_breakers": {}}
    m._update_local_stats()
    s = m.get_sync_status()
    assert (s["local_models"], s["local_versions"]) == (3, 3)  # with the root's 'base'


def test_update_local_stats_counts_models_and_versions(tmp_path, node, manager, model_file):
    path = node("local", "a", "b")
    with mreg.Registry(path) as reg:
        reg.register("a", model_file("a2.pt"))
    m = manager(path)
    m._update_local_stats()
    assert (m._model_count, m._version_count, m.state.local_record_count) == (3, 4, 3)  # with 'base'


def test_update_local_stats_without_a_registry_changes_nothing(tmp_path, manager):
    m = manager(tmp_path / "absent.db")
    m._model_count, m._version_count = 7, 9
    m._update_local_stats()
    assert (m._model_count, m._version_count, m.state.local_record_count) == (7, 9, 0)
    assert not (tmp_path / "absent").exists()


def test_a_db_path_stands_for_the_registry_beside_it(node, manager):
    path = node("model_registry", "a")
    m = manager(path.parent / "model_registry.db")
    m._update_local_stats()
    assert m._model_count == 2  # 'a' and the root's 'base'
    assert m.get_status()["db_exists"] is True
    assert m.get_status()["db_path"] == str(path.parent / "model_registry.db")


def test_get_status_keys_and_values(tmp_path, node, manager):
    m = manager(tmp_path / "absent")
    m.nodes["x"] = NodeInfo("x")
    s = m.get_status()
    assert sorted(s) == sorted(["running", "state", "circuit_breaker", "db_type", "db_path", "db_exists", "db_state",
                                "node_count", "nodes"])
    assert (s["running"], s["circuit_breaker"], s["db_type"], s["db_path"], s["db_exists"], s["node_count"],
            s["nodes"]) == (False, {}, "registry", str(tmp_path / "absent"), False, 1, ["x"])
    assert len(s["state"]) == 6 and len(s["db_state"]) == 12


def test_callbacks_are_appended_without_a_check(manager):
    m = manager()
    m.on_sync_complete(print)
    m.on_sync_failed(len)
    m.on_sync_complete(42)
    assert m._on_sync_complete_callbacks == [print, 42] and m._on_sync_failed_callbacks == [len]


# ---- health --------------------------------------------------------------------------------------------------------


def test_health_check_not_running_is_stopped(manager):
    h = manager().health_check()
    assert isinstance(h, dsm.HealthCheckResult)
    assert (h.healthy, h.status) == (False, dsm.CoordinatorStatus.STOPPED)


def test_health_check_running_without_a_registry_is_degraded(tmp_path, manager):
    m = manager(tmp_path / "absent")
    m._running = True
    h = m.health_check()
    assert (h.healthy, h.status) == (False, dsm.CoordinatorStatus.DEGRADED)


def test_health_check_after_a_recent_pull_is_running_with_its_details(node, manager, p2p):
    m = manager(node("local", "a"), p2p_url=p2p.url)
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("peer")) is True
    m._running = True
    h = m.health_check()
    assert (h.healthy, h.status) == (True, dsm.CoordinatorStatus.RUNNING)
    assert sorted(h.details) == sorted(["db_type", "db_path", "local_record_count", "sync_rate",
                                        "last_sync_age_seconds", "synced_from", "node_count", "p2p_healthy",
                                        "p2p_url"])
    assert (h.details["sync_rate"], h.details["synced_from"], h.details["p2p_healthy"], h.details["local_record_count"]) \
        == (1.0, "peer:git", True, 3)
    assert "/health" in p2p.hits


def test_health_check_is_degraded_when_the_p2p_orchestrator_does_not_answer(node, manager):
    m = manager(node("local", "a"))
    m.state.last_sync_timestamp = __import__("time").time()
    m._running = True
    h = m.health_check()
    assert (h.healthy, h.status, h.details["p2p_healthy"]) == (True, dsm.CoordinatorStatus.DEGRADED, False)


def test_health_check_is_unhealthy_below_half_success_or_after_two_intervals(node, manager, p2p):
    import time
    m = manager(node("local", "a"), p2p_url=p2p.url, sync_interval=100)
    m._running = True
    m.state.total_syncs, m.state.successful_syncs, m.state.last_sync_timestamp = 4, 1, time.time()
    h = m.health_check()
    assert (h.healthy, h.status, h.details["sync_rate"]) == (False, dsm.CoordinatorStatus.DEGRADED, 0.25)
    m.state.successful_syncs = 2
    assert m.health_check().healthy is True  # 0.5 is enough
    m.state.last_sync_timestamp = time.time() - 201
    assert m.health_check().healthy is False


def test_health_check_never_raises(node, manager):
    m = manager(node("local", "a"))
    m._running = True
    m._db_state = None  # an internal error
    h = m.health_check()
    assert (h.healthy, h.status) == (False, dsm.CoordinatorStatus.ERROR)


# ---- discovery and initialize ----------------------------------------------------------------------------------------


def test_discover_nodes_takes_the_p2p_peers(manager, p2p):
    p2p.status_body = {"peers": {"x": {"node_id": "gpu-1", "tailscale_ip": "100.64.0.1", "ssh_host": "g1",
                                       "ssh_port": 2200, "http_url": "http://g1:8770"},
                                 "y": {"host": "gpu-2"}, "z": {}, "s": "just a string"}}
    m = manager(p2p_url=p2p.url)
    run(m.discover_nodes())
    assert sorted(m.nodes) == ["gpu-1", "gpu-2", "unknown"]
    n = m.nodes["gpu-1"]
    assert (n.tailscale_ip, n.ssh_host, n.ssh_port, n.http_url, n.remote_db_path) == \
        ("100.64.0.1", "g1", 2200, "http://g1:8770", "ai-service/data/model_registry.db")
    assert n.last_seen > 0 and m.nodes["gpu-2"].ssh_port == 22
    assert p2p.hits == ["/status"]


def test_discover_nodes_takes_a_list_of_peers_and_never_removes(manager, p2p):
    m = manager(p2p_url=p2p.url)
    m.nodes["old"] = NodeInfo("old", ssh_host="o")
    m.nodes["gpu-3"] = NodeInfo("gpu-3", ssh_host="before")
    p2p.status_body = {"peers": [{"node_id": "gpu-3", "ssh_host": "after"}, "skip"]}
    run(m.discover_nodes())
    assert sorted(m.nodes) == ["gpu-3", "old"] and m.nodes["gpu-3"].ssh_host == "after"


def test_discover_nodes_tries_three_times_then_takes_the_git_remotes(node, manager, p2p):
    p2p.status_code = 503
    local = node("local", "a")
    git(local, "remote", "add", "hub", str(node("hub", "b")))
    m = manager(local, p2p_url=p2p.url)
    run(m.discover_nodes())
    assert p2p.hits == ["/status"] * 3
    assert list(m.nodes) == ["hub"] and m.nodes["hub"].remote_db_path == str(local.parent / "hub")


def test_initialize_reloads_the_state_calls_discover_nodes_and_counts(node, manager, state_path):
    m = manager(node("local", "a", "b"))
    state_path.write_text(json.dumps({"synced_from": "n:git"}))
    called = []

    async def discover():
        called.append(True)

    m.discover_nodes = discover
    run(m.initialize())
    assert called == [True]
    assert m.state.synced_from == "n:git"
    assert (m._model_count, m._version_count) == (3, 3)  # with 'base'


def test_initialize_on_a_new_registry_leaves_the_counts_at_zero(tmp_path, manager):
    m = manager(tmp_path / "absent")
    run(m.initialize())
    assert (m._model_count, m._version_count, m.nodes) == (0, 0, {})


# ---- syncing ------------------------------------------------------------------------------------------------------------


def test_sync_with_cluster_without_nodes_returns_nothing_and_writes_nothing(manager, state_path):
    m = manager()
    assert run(m.sync_with_cluster()) == {}
    assert not state_path.exists() and m._state.sync_count == 0


def test_sync_with_cluster_pulls_every_node_and_writes_the_cluster_state(node, manager, state_path):
    local = node("local", "a")
    m = manager(local)
    m.nodes["p1"] = NodeInfo("p1", remote_db_path=str(node("p1", "b")))
    m.nodes["p2"] = NodeInfo("p2", remote_db_path="file://" + str(node("p2", "c")))
    m._last_discovery = 1e18
    assert run(m.sync_with_cluster()) == {"p1": True, "p2": True}
    assert models(local) == [("a", 1), ("b", 1), ("c", 1)]
    d = json.loads(state_path.read_text())
    assert len(d) == 6 and d["sync_count"] == 1 and sorted(d["synced_nodes"]) == ["p1", "p2"]
    assert m._state.sync_count == 1 and m._state.synced_nodes == {"p1", "p2"}
    assert (m.state.successful_syncs, m.state.total_syncs) == (2, 2)
    assert m.state.synced_from in ("p1:git", "p2:git")


def test_sync_with_cluster_runs_nodes_concurrently(node, manager):
    local = node("local", "a")
    m = manager(local)
    for n in ("p1", "p2", "p3"):
        m.nodes[n] = NodeInfo(n, remote_db_path=str(node(n, n + "m")))
    m._last_discovery = 1e18
    assert run(m.sync_with_cluster(max_concurrent=3)) == {"p1": True, "p2": True, "p3": True}
    assert models(local) == [("a", 1), ("p1m", 1), ("p2m", 1), ("p3m", 1)]


def test_sync_with_cluster_does_not_set_the_database_states_time(tmp_path, manager):
    m = manager(tmp_path / "local")
    m.nodes["gone"] = NodeInfo("gone", remote_db_path=str(tmp_path / "nowhere"))
    m._last_discovery = 1e18
    assert run(m.sync_with_cluster()) == {"gone": False}
    assert m._state.last_sync_timestamp > 0 and m.state.last_sync_timestamp == 0.0
    assert m._state.failed_nodes == {"gone"}


def test_a_pull_brings_stage_changes_metrics_and_tags_the_original_lost(node, manager, model_file):
    """Full-log sync (README): a version both nodes have, changed on one, is changed on the other after a pull."""
    peer = node("peer", "m")
    local = tmp = peer.parent / "local"
    m = manager(local)
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(peer))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("peer")) is True
    with mreg.Registry(peer) as reg:
        reg.promote("m", 1, "staging", reason="evaluated")
        reg.update_metrics("m", 1, {"elo": 1620})
        reg.tag("m", 1, "candidate")
    assert run(m.sync_with_node("peer")) is True
    with mreg.Registry(tmp, create=False) as reg:
        v = reg.get("m", 1)
    assert (v["stage"], v["metrics"]["elo"], v["tags"]) == ("staging", 1620, ["candidate"])


def test_a_version_number_both_nodes_took_is_renumbered_and_counted(node, manager):
    local, peer = node("local", "m"), node("peer", "m")  # both registered m:1 apart
    m = manager(local)
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(peer))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("peer")) is True
    assert models(local) == [("m", 1), ("m", 2)]  # the original kept its own row and dropped the other
    assert m.state.merge_conflicts == 1


def test_a_successful_pull_writes_the_database_state(node, manager, state_path):
    m = manager(node("local", "a"))
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("peer")) is True
    d = json.loads(state_path.read_text())
    assert len(d) == 12 and d["last_sync_timestamp"] > 0 and d["local_hash"]
    assert m.state.local_record_count == 3 and m._model_count == 3
    assert m.state.synced_from == "peer:git"  # set after the pull wrote the file, as the original's


def test_a_pull_into_a_node_without_a_registry_creates_it(tmp_path, node, manager):
    local = tmp_path / "fresh"
    m = manager(local)
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "a", "b")))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("peer")) is True
    assert models(local) == [("a", 1), ("b", 1)]


def test_sync_with_node_failure_is_recorded_and_does_not_raise(tmp_path, node, manager):
    m = manager(node("local", "a"))
    m.nodes["gone"] = NodeInfo("gone", remote_db_path=str(tmp_path / "nowhere"))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("gone")) is False
    assert m._state.failed_nodes == {"gone"} and m._state.last_error is None
    assert remotes(tmp_path / "local")["gone"]["last_error"].startswith("cannot reach 'gone'")
    m.nodes["gone"].remote_db_path = str(node("gone", "b"))  # the node comes back, at another path
    assert run(m.sync_with_node("gone")) is True
    assert m._state.failed_nodes == set() and m._state.synced_nodes == {"gone"}
    assert remotes(tmp_path / "local")["gone"]["url"] == str(tmp_path / "gone")


def test_sync_with_node_exception_sets_last_error(manager):
    m = manager()

    async def boom(node):
        raise RuntimeError("transport exploded")

    m._do_sync = boom
    assert run(m.sync_with_node("n")) is False
    assert m._state.failed_nodes == {"n"} and m._state.last_error == "transport exploded"


def test_an_unknown_node_is_false(node, manager):
    m = manager(node("local", "a"))
    m.nodes["known"] = NodeInfo("known")
    m._last_discovery = 1e18
    failed = []
    m.on_sync_failed(lambda *a: failed.append(a))
    assert run(m.sync_with_node("stranger")) is False
    assert failed == [] and m.state.total_syncs == 0


def test_do_sync_discovers_nodes_when_the_list_is_empty(node, manager):
    local = node("local", "a")
    git(local, "remote", "add", "hub", str(node("hub", "b")))
    m = manager(local)
    assert run(m.sync_with_node("hub")) is True
    assert "hub" in m.nodes and models(local) == [("a", 1), ("b", 1)]


def test_callbacks_get_node_transport_and_state_plain_or_coroutine(tmp_path, node, manager):
    m = manager(node("local", "a"))
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m.nodes["gone"] = NodeInfo("gone", remote_db_path=str(tmp_path / "nowhere"))
    m._last_discovery = 1e18
    seen = []

    async def coro(node, transport, state):
        seen.append(("async", node, transport, state is m.state))

    m.on_sync_complete(lambda n, t, s: seen.append(("ok", n, t, s.synced_from)))
    m.on_sync_complete(coro)
    m.on_sync_complete(lambda: seen.append("never"))  # TypeError, swallowed
    m.on_sync_complete(lambda n, t, s: None.missing)  # AttributeError, swallowed
    m.on_sync_failed(lambda n, t, s: seen.append(("failed", n, t)))
    assert run(m.sync_with_node("peer")) is True
    assert run(m.sync_with_node("gone")) is False
    assert seen == [("ok", "peer", "git", "peer:git"), ("async", "peer", "git", True),
                    ("failed", "gone", "all_transports_failed")]


def test_a_callback_raising_something_else_makes_the_sync_a_failure(node, manager):
    m = manager(node("local", "a"))
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m._last_discovery = 1e18

    def bad(n, t, s):
        raise KeyError("x")

    m.on_sync_complete(bad)
    assert run(m.sync_with_node("peer")) is False
    assert m._state.last_error == "'x'" and m._state.failed_nodes == {"peer"}


def test_current_sync_source_is_cleared_after_a_sync(node, manager):
    m = manager(node("local", "a"))
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m._last_discovery = 1e18
    during = []
    m.on_sync_complete(lambda n, t, s: during.append(m._current_sync_source))
    run(m.sync_with_node("peer"))
    assert during == ["peer"] and m._current_sync_source is None


# ---- transports ---------------------------------------------------------------------------------------------------------


def test_sync_via_tailscale_is_false_at_once_without_an_ip(tmp_path, manager):
    m = manager(tmp_path / "local")
    assert run(m._sync_via_tailscale(NodeInfo("n", ssh_host="h"))) is False
    assert inspect.iscoroutinefunction(m._sync_via_tailscale)
    assert not (tmp_path / "local").exists()


def test_each_transport_is_false_without_what_it_needs(tmp_path, manager):
    m = manager(tmp_path / "local")
    n = NodeInfo("n", tailscale_ip="100.64.0.1")
    assert run(m._sync_via_ssh(n)) is False
    assert run(m._sync_via_vast_ssh(NodeInfo("n", vast_ssh_host="v"))) is False
    assert run(m._sync_via_http(n)) is False
    assert not (tmp_path / "local").exists()


def test_sync_via_http_pulls_from_the_nodes_git_url(node, manager):
    """The http transport with a file:// URL: the same pull as any git URL (a real http server is
    tested by mreg's own sync tests)."""
    local = node("local", "a")
    m = manager(local)
    assert run(m._sync_via_http(NodeInfo("web", http_url="file://" + str(node("web", "w"))))) is True
    assert models(local) == [("a", 1), ("w", 1)]


def test_sync_via_ssh_to_an_unreachable_host_is_false(node, manager):
    local = node("local", "a")
    m = manager(local)
    port = int(m.p2p_url.rsplit(":", 1)[1])  # nothing listens there
    assert run(m._sync_via_ssh(NodeInfo("h", ssh_host="127.0.0.1", ssh_port=port))) is False
    assert remotes(local)["h"]["url"] == "ssh://127.0.0.1:%d/~/ai-service/data/model_registry" % port


# ---- the circuit breaker (mreg's, per remote) ---------------------------------------------------------------------------


def test_the_circuit_opens_after_five_failures_and_the_node_is_then_not_tried(tmp_path, node, manager):
    local = node("local", "a")
    m = manager(local)
    m.nodes["gone"] = NodeInfo("gone", remote_db_path=str(tmp_path / "nowhere"))
    m._last_discovery = 1e18
    failed = []
    m.on_sync_failed(lambda n, t, s: failed.append(n))
    for i in range(4):
        assert run(m.sync_with_node("gone")) is False
        assert m.get_status()["circuit_breaker"] == {"gone": "closed"}
    assert run(m.sync_with_node("gone")) is False
    assert m.get_status()["circuit_breaker"] == {"gone": "open"}
    tried = remotes(local)["gone"]["last_try"]
    assert run(m.sync_with_node("gone")) is False
    assert remotes(local)["gone"]["last_try"] == tried  # not tried
    assert len(failed) == 5 and m.state.total_syncs == 5
    assert m.get_sync_status()["circuit_breakers"] == {}


def test_a_half_open_success_closes_the_circuit(tmp_path, node, manager):
    local = node("local", "a")
    git(local, "config", "mreg.breaker.failureThreshold", "1")
    git(local, "config", "mreg.breaker.recoveryTimeout", "0.001")
    git(local, "config", "mreg.breaker.maxBackoff", "0.001")
    git(local, "config", "mreg.breaker.jitter", "0")
    m = manager(local)
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(tmp_path / "peer"))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("peer")) is False
    assert m.get_status()["circuit_breaker"] == {"peer": "open"}
    node("peer", "b")  # the node comes up; the open period (1 ms) is over by now
    assert run(m.sync_with_node("peer")) is True
    assert m.get_status()["circuit_breaker"] == {"peer": "closed"}


# ---- merge ---------------------------------------------------------------------------------------------------------------


def test_merge_databases_leaves_the_union_of_models_and_versions(node, manager, model_file):
    local, other = node("local", "a", "shared"), node("other", "b")
    with mreg.Registry(other) as reg:
        reg.register("b", model_file("b2.pt"))
    m = manager(local)
    assert inspect.iscoroutinefunction(m._merge_databases)
    assert run(m._merge_databases(other)) is True
    assert models(local) == [("a", 1), ("b", 1), ("b", 2), ("shared", 1)]
    assert m._model_count == 0  # the counts are not refreshed
    assert not any(n.startswith("merge-") for n in remotes(local))


def test_merge_databases_takes_an_original_style_db_path(node, manager):
    local, other = node("local", "a"), node("model_registry", "b")
    assert run(manager(local)._merge_databases(other.parent / "model_registry.db")) is True
    assert models(local) == [("a", 1), ("b", 1)]


def test_merge_databases_from_nothing_is_false_and_changes_nothing(tmp_path, node, manager):
    local = node("local", "a")
    with mreg.Registry(local) as reg:
        head = reg.status()["head"]
    assert run(manager(local)._merge_databases(tmp_path / "nowhere")) is False
    with mreg.Registry(local) as reg:
        assert reg.status()["head"] == head
    assert remotes(local) == {}


def test_registries_made_apart_do_not_merge(tmp_path, manager, model_file, monkeypatch):
    """mreg merges registries that grew from one history; two made apart (their first commits differ: other
    users) are refused whole, where the original inserted the other file's rows."""
    monkeypatch.setenv("USER", "alice")
    with mreg.Registry(tmp_path / "a") as reg:
        reg.register("a", model_file("a.pt"))
    monkeypatch.setenv("USER", "bob")
    with mreg.Registry(tmp_path / "b") as reg:
        reg.register("b", model_file("b.pt"))
    m = manager(tmp_path / "a")
    assert run(m._merge_databases(tmp_path / "b")) is False
    with mreg.Registry(tmp_path / "a", create=False) as reg:
        assert [v["model_id"] for v in reg.list()] == ["a"]
    m.nodes["b"] = NodeInfo("b", remote_db_path=str(tmp_path / "b"))
    m._last_discovery = 1e18
    assert run(m.sync_with_node("b")) is False
    assert "unrelated" in remotes(tmp_path / "a")["b"]["last_error"]


# ---- ensure_latest and the loop -----------------------------------------------------------------------------------------


def test_ensure_latest_is_true_at_once_after_a_recent_pull(manager):
    import time
    m = manager()
    m.state.last_sync_timestamp = time.time()

    async def never():
        raise AssertionError("synced")

    m.sync_with_cluster = never
    assert run(m.ensure_latest()) is True


def test_ensure_latest_syncs_when_stale(node, tmp_path, manager):
    m = manager(node("local", "a"))
    assert run(m.ensure_latest()) is False  # no nodes
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m._last_discovery = 1e18
    assert run(m.ensure_latest()) is True
    m.nodes["peer"].remote_db_path = str(tmp_path / "nowhere")
    m.state.last_sync_timestamp = 0.0
    assert run(m.ensure_latest()) is False


def test_start_syncs_until_stop_and_stop_writes_the_cluster_state(node, manager, state_path):
    local = node("local", "a")
    m = manager(local, sync_interval=3600)
    m.nodes["peer"] = NodeInfo("peer", remote_db_path=str(node("peer", "b")))
    m._last_discovery = 1e18

    async def scenario():
        task = asyncio.create_task(m.start())
        while m._state.sync_count == 0:
            await asyncio.sleep(0.01)
        assert m.get_status()["running"] is True
        await m.start()  # already running: returns at once
        await m.stop()
        await asyncio.wait_for(task, 10)  # woken from its hour-long sleep

    run(scenario())
    assert m.get_status()["running"] is False
    assert models(local) == [("a", 1), ("b", 1)]
    d = json.loads(state_path.read_text())
    assert len(d) == 6 and d["sync_count"] == 1 and d["synced_nodes"] == ["peer"]


def test_the_loop_swallows_a_failing_round(manager):
    m = manager()
    rounds = []

    async def failing(max_concurrent=1):
        rounds.append(1)
        if len(rounds) == 2:
            await m.stop()
        raise RuntimeError("round failed")

    m.sync_with_cluster = failing
    m.sync_interval = 0.0
    run(asyncio.wait_for(m.start(), 10))
    assert len(rounds) == 2


def test_async_methods_are_coroutine_functions():
    for name in ("initialize", "discover_nodes", "sync_with_cluster", "sync_with_node", "ensure_latest", "start",
                 "stop", "_merge_databases", "_sync_via_tailscale", "_sync_via_ssh", "_sync_via_vast_ssh",
                 "_sync_via_http", "_do_sync"):
        assert inspect.iscoroutinefunction(getattr(RegistrySyncManager, name)), name
    for name in ("get_sync_status", "get_status", "health_check", "on_sync_complete", "on_sync_failed",
                 "_update_local_stats"):
        assert not inspect.iscoroutinefunction(getattr(RegistrySyncManager, name)), name
