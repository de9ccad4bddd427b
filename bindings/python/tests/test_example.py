"""The training-loop example (bindings/python/examples/training_loop.py) runs as a user would run it,
and leaves the registry it says it leaves."""

import os
import subprocess
import sys

import mreg

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "training_loop.py")


def test_training_loop_registers_promotes_and_rolls_back(tmp_path):
    regdir = str(tmp_path / "registry")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, MREG_DIR=regdir, TMPDIR=str(scratch))
    out = subprocess.run([sys.executable, EXAMPLE, "5"], env=env, check=True, capture_output=True, text=True).stdout
    assert list(scratch.iterdir()) == []  # its checkpoints' directory is gone: the registry has its copies
    lines = out.splitlines()
    assert lines[0] == "generation 1: square8_2p:1 -> production (No current production model)"
    assert "  rolled back square8_2p: v4 -> v3 (Elo dropped by 120 (threshold: 50.0))" in lines
    assert lines[-1] == "rollback: v4 -> v3, Elo dropped by 120 (threshold: 50.0)"
    with mreg.Registry(regdir, create=False) as reg:
        stages = {v["version"]: v["stage"] for v in reg.list(model_id="square8_2p")}
        assert stages == {1: "archived", 2: "archived", 3: "archived", 4: "archived", 5: "production"}
        history = reg.rollback_history("square8_2p")
        assert [(h["from_version"], h["to_version"], h["triggered_by"]) for h in history] == [(4, 3, "auto_check")]
        types = [e["type"] for e in reg.events("square8_2p")]
        # each generation: registered, metrics, staging, production, its baseline; one rollback
        assert (types.count("version.registered"), types.count("version.metrics_updated"),
                types.count("version.promoted"), types.count("baseline.set"), types.count("rollback")) == (5, 5, 10, 5, 1)
