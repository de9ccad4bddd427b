"""grid.py DASHBOARD: the panels of a Grafana dashboard lie within its 24
columns and no two overlap (Grafana would push one down and the layout
would not be the one written). Prints each problem and exits 1 when there
is one (tests/cli/test_dashboard.sh).
"""
import json
import sys


def cells(p):
    g = p["gridPos"]
    return {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}


def main(path):
    with open(path) as f:
        panels = json.load(f)["panels"]
    problems = []
    taken = {}
    for p in panels:
        g = p["gridPos"]
        name = f"panel {p['id']} '{p.get('title', '')}'"
        if g["x"] < 0 or g["y"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > 24:
            problems.append(f"{name}: gridPos {g} is not within the 24 columns")
        for c in cells(p):
            if c in taken:
                problems.append(f"{name} overlaps {taken[c]} at x={c[0]} y={c[1]}")
                break
            taken[c] = name
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
