"""Schedules as task files write them: a 5-field cron expression or an Airflow preset, and the IR's ``Schedule``."""

from __future__ import annotations

from datetime import datetime

from croniter import CroniterBadDateError, croniter

from .. import ir
from ..errors import did_you_mean, one_of

SCHEDULE_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@continuous")


def validate_schedule(value: str) -> str:
    """The schedule with whitespace normalised; ValueError (for a pydantic validator) saying how to write it."""
    text = " ".join(value.split())
    if text.startswith("@"):
        if text not in SCHEDULE_PRESETS:
            suggestion = did_you_mean(text, SCHEDULE_PRESETS)
            raise ValueError(f"unknown schedule preset '{text}'; use one of {one_of(SCHEDULE_PRESETS)} "
                             f"or a 5-field cron{' (' + suggestion + ')' if suggestion else ''}")
        return text
    fields = len(text.split())
    if fields != 5 or not croniter.is_valid(text):
        seconds = " (Quartz and Spring crons start with seconds, Airflow's do not: drop the first field)"
        count = "" if fields == 5 else f"; it has {fields} fields" + (seconds if fields == 6 else "")
        raise ValueError(f"schedule '{value}' is not a valid 5-field cron expression (minute hour day month "
                         f'weekday, separated by spaces){count}, for example "0 3 * * *" for 03:00 every day')
    if not _ever_fires(text):
        raise ValueError(f"schedule '{value}' matches no date (a day of the month that none of its months has, "
                         "such as 31 in February), so the DAG would never run and Airflow's scheduler would fail "
                         "to plan it; check the day and month fields")
    return text


def _ever_fires(cron: str) -> bool:
    """Whether the cron matches a date, read as Airflow's timetables read it (croniter, day fields or-ed)."""
    try:
        croniter(cron, datetime(2001, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return False
    return True


def to_ir(schedule: str | None) -> ir.Schedule:
    """A validated schedule (or none) as the IR holds it."""
    if schedule is None:
        return None
    return ir.Continuous() if schedule == "@continuous" else ir.Cron(schedule)
