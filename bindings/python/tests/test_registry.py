"""The Pythonic layer: mreg.Registry over libmreg.so's C API."""

import json
import os
import subprocess
import sys
import threading

import pytest

import mreg


def test_register_returns_the_version_object(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        v = reg.register("Square 8 2p", model_file(), metrics={"elo": 1500, "games_played": 10},
                         tags=["b", "a"], training_config={"learning_rate": 0.01, "custom": 1})
    assert (v["model_id"], v["version"], v["stage"], v["model_type"]) == ("square_8_2p", 1, "development", "policy_value")
    assert v["metrics"]["elo"] == 1500 and v["metrics"]["win_rate"] is None
    assert v["tags"] == ["a", "b"]
    assert v["training_config"]["learning_rate"] == 0.01
    assert v["training_config"]["extra_config"] == {"custom": 1}
    assert v["file_hash"].startswith("xxh128:")
    assert os.path.exists(os.path.join(regdir, v["file_path"]))


def test_versions_number_up_and_promotions_follow_the_stage_table(regdir, model_file):
    reg = mreg.Registry(regdir)
    reg.register("m", model_file("a.pt"))
    reg.register("m", model_file("b.pt"))
    assert reg.promote("m", 1, "staging", reason="tests pass")["stage"] == "staging"
    assert reg.promote("m", 1, "production", actor="ci")["stage"] == "production"
    assert reg.get("m")["version"] == 2
    with pytest.raises(mreg.TransitionRefused) as e:
        reg.promote("m", 2, "production")
    assert str(e.value) == "cannot promote 'm:2': cannot transition from development to production"
    assert e.value.code == -5 and isinstance(e.value, ValueError)
    history = reg.history("m", 1)
    assert [h["to_stage"] for h in history] == ["development", "staging", "production"]
    assert history[2]["transitioned_by"] == "ci"
    reg.close()


def test_archive_and_reject_of_a_version_already_there_change_nothing(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        reg.register("m", model_file())
        reg.archive("m", 1)
        before = reg.events()
        assert reg.archive("m", 1)["stage"] == "archived"
        assert reg.events() == before


def test_get_and_history_of_what_is_not_there_are_none(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        assert reg.get("nope") is None
        assert reg.history("nope", 3) is None
        reg.register("m", model_file())
        assert reg.get("m", 2) is None


def test_errors_are_typed_and_name_the_subject(regdir, model_file, tmp_path):
    with mreg.Registry(regdir) as reg:
        with pytest.raises(mreg.NotFound) as e:
            reg.register("m", str(tmp_path / "missing.pt"))
        assert str(e.value) == "model file not found: '%s'" % (tmp_path / "missing.pt")
        with pytest.raises(mreg.Invalid, match="invalid model id"):
            reg.get("../x")
        with pytest.raises(mreg.NotFound, match="model not found: 'ghost'|ghost"):
            reg.promote("ghost", 1, "staging")
        with pytest.raises(mreg.Usage, match="unknown method 'frobnicate'"):
            reg.call("frobnicate")
        with pytest.raises(mreg.Invalid, match="invalid 'metrics'"):
            reg.call("register", name="m", file=model_file(), metrics=[1])


def test_open_without_create_needs_a_registry(tmp_path):
    with pytest.raises(mreg.NotFound):
        mreg.Registry(str(tmp_path / "none"), create=False)


def test_create_takes_an_empty_directory_as_init_does(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    with mreg.Registry(str(d)) as reg:
        assert reg.status()["versions"] == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("not a registry")
    with pytest.raises(mreg.Invalid, match="is not a git repository"):
        mreg.Registry(str(tmp_path / "full"))


def test_a_closed_registry_refuses_calls(regdir):
    reg = mreg.Registry(regdir)
    reg.close()
    with pytest.raises(mreg.Error, match="closed"):
        reg.list()


def test_list_filters_and_orders_newest_change_first(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        reg.register("a", model_file("a.pt"), model_type="heuristic", tags=["cmaes"])
        reg.register("b", model_file("b.pt"))
        reg.promote("a", 1, "staging")
        assert [(v["model_id"], v["version"]) for v in reg.list()] == [("a", 1), ("b", 1)]
        assert [v["model_id"] for v in reg.list(stage="staging")] == ["a"]
        assert [v["model_id"] for v in reg.list(model_type="policy_value")] == ["b"]
        assert [v["model_id"] for v in reg.list(tag="cmaes")] == ["a"]
        assert reg.list(stage="production") == []
        with pytest.raises(mreg.Invalid, match="invalid stage 'prod'"):
            reg.list(stage="prod")


def test_metrics_and_tags(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        reg.register("m", model_file(), metrics={"elo": 1500})
        v = reg.update_metrics("m", 1, {"win_rate": 0.6})
        assert (v["metrics"]["elo"], v["metrics"]["win_rate"]) == (1500, 0.6)
        v = reg.update_metrics("m", 1, {"games_played": 3}, replace=True)
        assert (v["metrics"]["elo"], v["metrics"]["games_played"]) == (None, 3)
        assert reg.tag("m", 1, "x", "y")["tags"] == ["x", "y"]
        assert reg.untag("m", 1, "x")["tags"] == ["y"]
        with pytest.raises(mreg.Invalid):
            reg.update_metrics("m", 1, {"win_rate": 2})


def test_events_are_the_log(regdir, model_file):
    with mreg.Registry(regdir) as reg:
        reg.register("m", model_file())
        reg.promote("m", 1, "staging")
        log = reg.events()
        assert [e["type"] for e in log] == ["version.registered", "version.promoted"]
        assert reg.events(limit=1) == log[1:]
        assert reg.events("other") == []


def test_the_cli_reads_what_the_package_wrote(regdir, model_file):
    mreg_bin = os.environ.get("MREG_CLI")
    if not mreg_bin:
        pytest.skip("MREG_CLI is not set")
    with mreg.Registry(regdir) as reg:
        v = reg.register("m", model_file(), metrics={"elo": 1234})
    # the CLI brings its own allocator (or the sanitizers' linked in): nothing preloaded for it
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run([mreg_bin, "-C", regdir, "show", "m:1", "--json"], check=True, capture_output=True, text=True,
                         env=env)
    assert json.loads(out.stdout) == v
    subprocess.run(["git", "-C", regdir, "fsck", "--strict"], check=True, capture_output=True)


def test_a_handle_sees_another_process_write(regdir, model_file):
    reg = mreg.Registry(regdir)
    reg.register("m", model_file("a.pt"))
    assert reg.get("m")["version"] == 1
    code = ("import sys; sys.path.insert(0, %r); import mreg; r = mreg.Registry(%r); r.register('m', %r)"
            % (os.path.dirname(os.path.dirname(mreg.__file__)), regdir, model_file("b.pt")))
    subprocess.run([sys.executable, "-c", code], check=True)
    assert reg.get("m")["version"] == 2
    assert len(reg.list()) == 2
    reg.close()


def test_two_threads_and_two_processes_write_at_once(regdir, model_file):
    reg = mreg.Registry(regdir)
    files = [model_file("t%d.pt" % i) for i in range(20)]
    errors = []

    def writer(k):
        try:
            for i in range(5):
                reg.register("m", files[k * 5 + i])
        except Exception as e:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(e)

    code = ("import sys; sys.path.insert(0, %r); import mreg; r = mreg.Registry(%r)\n"
            "for f in sys.argv[1:]: r.register('m', f)" % (os.path.dirname(os.path.dirname(mreg.__file__)), regdir))
    procs = [subprocess.Popen([sys.executable, "-c", code] + files[10 + 5 * p:15 + 5 * p]) for p in range(2)]
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait() for p in procs] == [0, 0]
    assert errors == []
    versions = sorted(v["version"] for v in reg.list(model_id="m"))
    assert versions == list(range(1, 21))
    assert len(reg.events()) == 20
    reg.close()


def test_remotes_added_on_a_handle_are_seen_by_it(regdir, tmp_path):
    other = mreg.Registry(str(tmp_path / "other"))
    with mreg.Registry(regdir) as reg:
        listed = reg.call("remote_add", name="hub", url=str(tmp_path / "other"))
        assert [r["name"] for r in listed] == ["hub"]
        assert [r["name"] for r in reg.call("remote_list")] == ["hub"]
        assert reg.call("remote_remove", name="hub") == []
        assert [r["name"] for r in reg.call("remote_add", name="hub", url=str(tmp_path / "other"))] == ["hub"]
        assert reg.sync("hub", no_backup=True)["remotes"][0]["name"] == "hub"
    other.close()


def test_the_http_api_answers_are_methods_too(regdir, model_file):
    """models, model, production and events with since: what mreg serve answers, through the same handle."""
    with mreg.Registry(regdir) as reg:
        reg.register("a", model_file("a.pt"), stage="production")
        reg.register("a", model_file("b.pt"))
        reg.register("b", model_file("c.pt"))
        models = reg.call("models")
        assert [(m["model_id"], m["version_count"], m["production_version"]) for m in models] == [("a", 2, 1), ("b", 1, None)]
        a = reg.call("model", model="a")
        assert [v["version"] for v in a["versions"]] == [1, 2] and a["latest_version"] == 2
        assert reg.call("model", model="a", version=2) == reg.get("a", 2)
        assert reg.call("model", model="nope") is None and reg.call("model", model="a", version=9) is None
        assert [v["model_id"] for v in reg.call("production")] == ["a"]
        log = reg.events()
        assert reg.call("events", since="", limit=2) == log[:2]
        assert reg.call("events", since=log[0]["id"], limit=1) == log[1:2]
        assert reg.call("events", since=log[-1]["id"]) == []
        with pytest.raises(mreg.NotFound, match="no such event"):
            reg.call("events", since="0" * 32)
