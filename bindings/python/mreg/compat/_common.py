"""What the compat modules share, as the original's modules share ``app.utils.paths``.

- ``AI_SERVICE_ROOT``: the original's ``ai-service/`` directory, under which
  its default paths lie: the environment variable ``AI_SERVICE_ROOT`` when
  set, else the current directory when the package is imported (where mreg's
  default ``data/model_registry`` lies too).
- mreg records times in UTC (``...Z``); the original's were naive local ISO
  strings, and its callers compute with them: ``local_dt`` and ``local_iso``
  give them so.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

AI_SERVICE_ROOT: Path = Path(os.environ.get("AI_SERVICE_ROOT") or os.getcwd()).absolute()


def local_dt(t: str | None) -> datetime | None:
    """An mreg time (UTC, ``...Z``) as a naive datetime in local time; None for none."""
    if not t:
        return None
    return datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone().replace(tzinfo=None)


def local_iso(t: str | None) -> str | None:
    """An mreg time as the original's naive local ISO string; None or "" as given; anything unparsable as is."""
    if not isinstance(t, str) or not t:
        return t
    try:
        return local_dt(t).isoformat()
    except ValueError:
        return t
