"""A training loop on mreg: register each checkpoint, evaluate it, promote the
good ones, and roll back when production regresses.

    MREG_DIR=data/model_registry /usr/bin/python3 examples/training_loop.py [GENERATIONS]

The "training" and "evaluation" are stand-ins (a checkpoint is a few random
bytes, its Elo a function of the generation, with a regression planted at
generation 4) so the example runs anywhere in a second; the registry calls
are the real ones a RingRift training loop makes. Prints one line per step
and ends with the registry's rollback record.
"""

import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import mreg  # noqa: E402

MODEL = "square8_2p"


def train(generation: int, workdir: str) -> str:
    """Stand-in for a training run: a checkpoint file."""
    path = os.path.join(workdir, "checkpoint_%03d.pt" % generation)
    with open(path, "wb") as f:
        f.write(random.Random(generation).randbytes(2048))
    return path


def evaluate(generation: int) -> dict:
    """Stand-in for an evaluation gauntlet: Elo rises with each generation."""
    return {"elo": 1500 + 40 * generation, "win_rate": 0.5 + generation / 100, "games_played": 200}


def observe_production(reg: mreg.Registry, generation: int) -> dict:
    """Stand-in for production games: the version in production plays as evaluated,
    except after generation 4, where it degrades in the field by 120 Elo."""
    live = reg.list(stage="production", model_id=MODEL)[0]["metrics"]
    drop = 120 if generation == 4 else 0
    return {"elo": live["elo"] - drop, "games_played": live["games_played"] + 300}


def main() -> None:
    generations = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    # the checkpoints, until registered: the registry keeps its own copy of each
    with tempfile.TemporaryDirectory(prefix="mreg-example-") as workdir, mreg.Registry() as reg:
        for g in range(1, generations + 1):
            v = reg.register("Square 8, 2 players", train(g, workdir), model_id=MODEL,
                             training_config={"epochs": 10 * g, "learning_rate": 0.001})
            reg.update_metrics(MODEL, v["version"], evaluate(g))
            step = reg.auto_promote(MODEL, v["version"])       # development -> staging
            if step["promoted"]:
                step = reg.auto_promote(MODEL, v["version"])   # staging -> production, if it beats production
            stage = reg.get(MODEL, v["version"])["stage"]
            print("generation %d: %s:%d -> %s (%s)" % (g, MODEL, v["version"], stage, step["reason"]))
            if stage == "production":
                reg.baseline_set(MODEL)                      # what later checks compare to
            check = reg.rollback_check(MODEL, metrics=observe_production(reg, g))
            if check["should_rollback"]:
                r = reg.rollback(MODEL, reason=check["reason"], trigger="auto_check")
                print("  rolled back %s: v%d -> v%d (%s)" % (MODEL, r["from_version"], r["to_version"], r["reason"]))
        for r in reg.rollback_history(MODEL):
            print("rollback: v%s -> v%s, %s" % (r["from_version"], r["to_version"], r["reason"]))


if __name__ == "__main__":
    main()
