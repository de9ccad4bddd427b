"""The original's ``app.training.cmaes_registry_integration`` on mreg: CMA-ES results as heuristic versions.

A CMA-ES run's tuned weights (a JSON file with a ``weights`` object) become a
version of ``heuristic_<board>_<N>p`` with the fitness as its win rate, and
are read back as the best version of a configuration. The registration is the
C API's ``cmaes_register`` (one call: the version, its name, description,
tags, metrics, training config, and the auto-promotion to staging as a second
event); the reads are ``list`` of the heuristic versions, filtered here as the
original filtered them.

    from mreg.compat.cmaes_registry_integration import register_cmaes_result
    model_id, version = register_cmaes_result(Path("weights.json"), "square8", 2, 0.7, 50)

Where it differs from the original:

- ``AI_SERVICE_ROOT`` (the original's ``ai-service/`` directory) is the
  environment variable ``AI_SERVICE_ROOT`` when set, else the current
  directory when this module is imported (absolute). ``DEFAULT_REGISTRY_DIR``
  is ``AI_SERVICE_ROOT/data/model_registry``, as the original's.
- mreg checks what it registers: a board of lowercase letters and digits
  (1 to 64), 2 to 8 players, a fitness from 0 to 1, a generation >= 0; the
  original took anything. Out-of-range values raise ``mreg.Invalid`` (a
  ``ValueError``) and nothing is written. ``min_fitness_improvement`` outside
  -1 to 1 is taken as its nearest end (above 1 nothing can improve by that
  much, so no promotion).
- The auto-promotion's ``transitioned_by`` is the registry's actor (mreg.actor,
  else ``$USER@host``), the registration's too; the original recorded
  ``cmaes_auto_promote``. A promotion that fails leaves the registration
  standing, as the original (which swallowed the ``ValueError``); mreg says
  why in a warning logged here.
- The weights file is stored content-addressed (``artifacts/ab/cd/<xxh128>.json``),
  not at ``models/heuristic_<key>/v<N>.json``; ``file_path`` in the dicts
  returned here is that file under ``registry_dir`` (relative when
  ``registry_dir`` is), the copy the registry keeps of the weights.
- ``updated_at`` is the original's naive local ISO string, converted from
  mreg's UTC time.
- The Prometheus counters the original bumped (``ringrift_cmaes_*``) are not
  touched: ``mreg metrics`` computes them from the events.
- ``registry_dir`` may be a ``str`` everywhere (the original needed a ``Path``
  in ``get_best_heuristic_model`` and ``list_cmaes_runs``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mreg

from ._common import AI_SERVICE_ROOT, local_iso

logger = logging.getLogger(__name__)

DEFAULT_REGISTRY_DIR: Path = AI_SERVICE_ROOT / "data" / "model_registry"

_PREFIX = "heuristic_"


@dataclass
class CMAESRunConfig:
    """The settings of one CMA-ES run: a record only (no function here takes it), as the original's."""

    population_size: int
    sigma: float
    generations: int
    games_per_eval: int
    board_type: str
    num_players: int
    opponent_mode: str = "baseline-only"
    eval_mode: str = "sequential"
    seed: int | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """All 10 fields under their names."""
        return {
            "population_size": self.population_size,
            "sigma": self.sigma,
            "generations": self.generations,
            "games_per_eval": self.games_per_eval,
            "board_type": self.board_type,
            "num_players": self.num_players,
            "opponent_mode": self.opponent_mode,
            "eval_mode": self.eval_mode,
            "seed": self.seed,
            "run_id": self.run_id,
        }


def _model_id(board_type: str, num_players: int) -> str:
    """heuristic_<board>_<N>p, the id every function here uses."""
    return "%s%s_%sp" % (_PREFIX, board_type, num_players)


def _registry_dir(registry_dir: str | os.PathLike | None) -> Path:
    """The registry directory: the one given, else DEFAULT_REGISTRY_DIR (read when called, so it can be patched)."""
    return Path(registry_dir) if registry_dir else DEFAULT_REGISTRY_DIR


def _entry(v: dict, registry_dir: Path) -> dict:
    """A version as the original's ``list_models`` entry: the 8 keys it has."""
    return {
        "model_id": v["model_id"],
        "version": v["version"],
        "name": v["name"],
        "model_type": v["model_type"],
        "stage": v["stage"],
        "file_path": str(registry_dir / v["file_path"]) if v.get("file_path") else v.get("file_path"),
        "metrics": v["metrics"],
        "updated_at": local_iso(v["updated_at"]),
    }


def _heuristic_versions(registry_dir: Path, stage: str | None = None) -> list[dict] | None:
    """Every heuristic version (most recently changed first), or None when there is no registry there."""
    try:
        reg = mreg.Registry(registry_dir, create=False)
    except (mreg.NotFound, mreg.Invalid):
        return None  # the original opened (and so created) an empty registry here: nothing to find in it
    with reg:
        return reg.list(stage=stage, model_type="heuristic")


def _stage_value(stage: Any) -> str:
    """A stage value string, as ``ModelStage(stage)`` takes it (a member or its value); ValueError otherwise."""
    value = getattr(stage, "value", stage)
    if not isinstance(value, str) or value not in mreg.STAGES:
        raise ValueError("%r is not a valid ModelStage" % (stage,))
    return value


def register_cmaes_result(weights_path: Path, board_type: str, num_players: int, fitness: float, generation: int,
                          cmaes_config: dict[str, Any] | None = None, registry_dir: Path | None = None,
                          auto_promote: bool = True, min_fitness_improvement: float = 0.02) -> tuple[str, int]:
    """Register a CMA-ES result as a heuristic version of ``heuristic_<board>_<N>p``; ``(model_id, version)``.

    Raises ``FileNotFoundError("Weights file not found: <path>")`` when the
    weights file is missing and ``json.JSONDecodeError`` when it is not JSON,
    as the original. The registry (created when absent) is opened for this
    call only. With ``auto_promote``, a fitness above the best earlier win
    rate of this id plus ``min_fitness_improvement`` (strictly; the first run
    compares with 0.0) moves the new version to staging, reason ``Fitness
    improved from <old:.4f> to <new:.4f>``. mreg refuses boards other than
    lowercase letters and digits, players outside 2 to 8 and a fitness outside
    0 to 1 (``mreg.Invalid``); see the module's docstring for the rest.
    """
    weights = Path(weights_path)
    if not weights.exists():
        raise FileNotFoundError("Weights file not found: %s" % weights)
    with mreg.Registry(_registry_dir(registry_dir)) as reg:
        with open(weights) as f:
            json.load(f)  # a check only, as the original's
        m = float(min_fitness_improvement)
        if m > 1:
            auto_promote, m = False, 1.0  # no fitness from 0 to 1 improves on a win rate >= 0 by more than 1
        elif m < -1:
            m = -1.0
        r = reg.cmaes_register(weights, board_type, num_players, fitness, generation,
                               config=cmaes_config if cmaes_config else None, auto_promote=bool(auto_promote),
                               min_improvement=m)
    if r.get("note"):
        logger.warning("%s", r["note"])
    return r["model_id"], r["version"]


def get_best_heuristic_model(board_type: str, num_players: int, registry_dir: Path | None = None,
                             stage: str | None = None) -> dict | None:
    """The version of ``heuristic_<board>_<N>p`` with the highest win rate (in ``stage`` when given), or None.

    Returns the original's ``list_models`` entry (``model_id, version, name,
    model_type, stage, file_path, metrics, updated_at``). On a tie the most
    recently changed version wins; versions without a win rate are skipped,
    and a win rate of 0.0 counts. A ``registry_dir`` that does not exist gives
    None and nothing is created. ``stage`` must be a stage value (``ValueError``
    "'x' is not a valid ModelStage" otherwise).
    """
    rd = _registry_dir(registry_dir)
    if not rd.exists():
        return None
    stage_value = _stage_value(stage) if stage is not None else None
    versions = _heuristic_versions(rd, stage_value) or []
    model_id = _model_id(board_type, num_players)
    best, best_rate = None, -1.0
    for v in versions:
        rate = v["metrics"].get("win_rate")
        if v["model_id"] == model_id and rate is not None and rate > best_rate:
            best, best_rate = v, rate
    return _entry(best, rd) if best is not None else None


def load_heuristic_weights_from_registry(board_type: str, num_players: int, registry_dir: Path | None = None,
                                         stage: str = "production") -> dict[str, float] | None:
    """The ``weights`` object of the best version in ``stage`` (None: any stage), or None.

    None when there is no such version, when its stored file is missing (a
    warning is logged) or when the file has no ``weights`` key; a file that is
    not JSON raises, as the original. The file read is the registry's copy of
    the weights at the version's ``file_path``.
    """
    best = get_best_heuristic_model(board_type, num_players, registry_dir, stage)
    if best is None:
        return None
    path = Path(best["file_path"])
    if not path.exists():
        logger.warning("weights file of %s:%s missing: %s", best["model_id"], best["version"], path)
        return None
    with open(path) as f:
        data = json.load(f)
    return data.get("weights")


def _parse_id(model_id: str) -> tuple[str, int] | None:
    """(board, players) of heuristic_<board>_<N>p, split at the last underscore; None for other ids."""
    if not model_id.startswith(_PREFIX):
        return None
    board, sep, players = model_id[len(_PREFIX):].rpartition("_")
    if not sep:
        return None
    try:
        return board, int(players.rstrip("p"))
    except ValueError:
        return None


def list_cmaes_runs(board_type: str | None = None, num_players: int | None = None, registry_dir: Path | None = None,
                    limit: int = 10) -> list[dict]:
    """Heuristic versions, one entry per version, most recently changed first, at most ``limit``.

    With ``board_type`` or ``num_players`` given, only ids of the form
    ``heuristic_<board>_<N>p`` that match both are kept (the board may hold
    underscores: the split is at the last one). [] when ``registry_dir`` does
    not exist (nothing is created).
    """
    rd = _registry_dir(registry_dir)
    if not rd.exists():
        return []
    versions = _heuristic_versions(rd) or []
    if board_type or num_players:
        kept = []
        for v in versions:
            parsed = _parse_id(v["model_id"])
            if parsed is None or (board_type and parsed[0] != board_type) or \
                    (num_players and parsed[1] != num_players):
                continue
            kept.append(v)
        versions = kept
    versions = sorted(versions, key=lambda v: v["updated_at"], reverse=True)
    return [_entry(v, rd) for v in versions[:limit]]

