"""make bench, W1 (d): the original's workload through the Python package, in one process.

    /usr/bin/python3 tests/bench/w1_python.py REG FILES

The same W1 as bench_lib's (a): 10 ids x 100 versions of the 4 KiB files
`bench_lib gen` made, all eight metrics and two tags each; versions 10, 20,
..., 100 of each id to staging and then production (200 promotions); the 7
list queries; a get of every version. Durable (mreg.fsync is on by
default). Every call is timed with perf_counter_ns around it; the medians go
to $BENCH_RESULTS as py.* lines, and are printed beside the original's own
numbers for the same workload (its Python API on SQLite, measured here).
Nothing fails on time; a wrong answer exits nonzero.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))

import mreg  # noqa: E402

# the original's medians for W1, in ms (issue 17)
ORIGINAL = {"register": 4.5, "promote": 1.3, "list": 3.5, "get": 0.05}
LISTS = [{}, {"stage": "production"}, {"stage": "staging"}, {"stage": "archived"}, {"model_id": "model_03"},
         {"tag": "gen-5"}, {"model_type": "policy_value"}]


def metrics(m, v):
    return {"elo": 1200.5 + 8 * v + 15 * m, "elo_uncertainty": round(6000.0 / (1 + 0.01 * v)) / 100,
            "win_rate": 0.4 + 0.002 * v, "draw_rate": 0.1 + 0.0005 * m, "games_played": 100 + 10 * v,
            "avg_move_time_ms": 85.5 + m, "policy_accuracy": 0.3 + 0.002 * v,
            "value_mse": round(25000.0 / (1 + 0.01 * v)) / 1e5}


def timed(series, fn, *args, **kw):
    t = time.perf_counter_ns()
    out = fn(*args, **kw)
    series.append((time.perf_counter_ns() - t) / 1e6)
    return out


def main():
    reg_dir, files = sys.argv[1], sys.argv[2]
    times = {"register": [], "promote": [], "list": [], "get": []}
    with mreg.Registry(reg_dir) as reg:
        for v in range(1, 101):
            for m in range(10):
                got = timed(times["register"], reg.register, "Model %02d" % m,
                            os.path.join(files, "model_%02d" % m, "v%03d.json" % v), model_id="model_%02d" % m,
                            description="W1 benchmark model", metrics=metrics(m, v),
                            tags=["gen-%d" % (v // 10), "selfplay"])
                if got["version"] != v:
                    sys.exit("register model_%02d gave version %d, want %d" % (m, got["version"], v))
        for m in range(10):
            for v in range(10, 101, 10):
                timed(times["promote"], reg.promote, "model_%02d" % m, v, "staging", reason="passed evaluation")
                timed(times["promote"], reg.promote, "model_%02d" % m, v, "production", reason="gauntlet won")
        for i, q in enumerate(LISTS):
            rows = timed(times["list"], reg.list, **q)
            if i == 1 and len(rows) != 10:
                sys.exit("list stage=production gave %d rows, want 10" % len(rows))
        for v in range(1, 101):
            for m in range(10):
                if timed(times["get"], reg.get, "model_%02d" % m, v)["version"] != v:
                    sys.exit("get model_%02d:%d gave another version" % (m, v))
    results = os.environ.get("BENCH_RESULTS")
    print("  %-28s %6s %10s %10s %12s %7s" % ("", "n", "median", "p90", "original", "ratio"))
    out = open(results, "a") if results else None
    for key, s in times.items():
        med = statistics.median(s)
        p90 = statistics.quantiles(s, n=10)[-1] if len(s) > 1 else med
        print("  %-28s %6d %7.3f ms %7.3f ms %9.2f ms %7.2f" % (key, len(s), med, p90, ORIGINAL[key], med / ORIGINAL[key]))
        if out:
            out.write("py.%s.median %.6f\npy.%s.p90 %.6f\n" % (key, med, key, p90))
    if out:
        out.close()


if __name__ == "__main__":
    main()
