"""When jobs run: ``run_at`` times and cron expressions, checked and turned into epoch seconds.

>>> parse_run_at("2030-01-01T00:00:00Z", now=0.0)
1893456000.0
>>> next_slot("*/5 * * * *", after=1893456000.0)
1893456300.0
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

__all__ = ["RUN_AT_GRACE_S", "check_cron", "next_slot", "parse_run_at"]

# a run_at this far in the past is still taken (clock skew between client and head, a slow
# request); further back it is refused: the caller almost certainly meant another time
RUN_AT_GRACE_S = 60.0


def parse_run_at(value: object, now: float) -> float:
    """``value`` (ISO 8601 text, a datetime or epoch seconds) as epoch seconds; ValueError naming
    ``run_at`` when it is no time or lies more than :data:`RUN_AT_GRACE_S` before ``now``.
    A time without a zone is UTC."""
    if isinstance(value, datetime):
        when = _epoch(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        when = float(value)
        if not math.isfinite(when):
            raise ValueError(f"run_at must be a finite number of epoch seconds, got {value!r}")
    elif isinstance(value, str):
        try:
            when = float(value)
        except ValueError:
            try:
                when = _epoch(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
            except ValueError:
                raise ValueError(
                    f"run_at must be an ISO 8601 time (2030-01-01T09:00:00Z) or epoch seconds, got {value!r}"
                ) from None
    else:
        raise ValueError(f"run_at must be an ISO 8601 time or epoch seconds, got {value!r}")
    if when < now - RUN_AT_GRACE_S:
        late = now - when
        raise ValueError(
            f"run_at {_iso(when)} is {late:.0f} s in the past (more than the {RUN_AT_GRACE_S:g} s allowed); "
            "leave run_at out to run the job now"
        )
    return when


def check_cron(expression: object) -> str:
    """``expression`` cleaned, or ValueError naming ``cron``: five fields (minute hour day month
    weekday), or six with seconds last."""
    from croniter import croniter

    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"cron must be a cron expression such as '*/5 * * * *', got {expression!r}")
    cleaned = " ".join(expression.split())
    fields = len(cleaned.split(" "))
    if fields not in (5, 6) or not croniter.is_valid(cleaned):
        raise ValueError(
            f"cron {expression!r} is not a valid cron expression: five fields (minute hour day-of-month "
            "month day-of-week, e.g. '*/5 * * * *') or six with seconds last"
        )
    return cleaned


def next_slot(expression: str, after: float) -> float:
    """The first time (epoch seconds, UTC) after ``after`` that ``expression`` names."""
    from croniter import croniter

    start = datetime.fromtimestamp(after, tz=timezone.utc)
    return float(croniter(expression, start).get_next(float))


def _epoch(when: datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
