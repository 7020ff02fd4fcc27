"""The data-set gate of a step, checked by the step's operator before it creates a workspace: a consumer runs
only once its data sets exist; one that was never published is produced first by a run of its producer DAG.

The step asks Airflow to start that run and waits for it deferred (``DagRunTriggerException`` with
``deferrable=True``, what the TriggerDagRunOperator does): the wait holds no worker slot, and the step comes
back through ``StepOperator.execute_complete`` once the producer's run has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException, DagRunTriggerException

from .. import ir
from ..config import Settings
from ..runtime import layout
from .storage import data_set_url

POKE_SECONDS = 5
MAX_RUN_ID = 250


def gates(run: ir.TaskRun, dag_id: str) -> tuple[ir.DataSetUse, ...]:
    """The data sets this step reads that another DAG produces (a DAG producing its own data set needs no gate)."""
    seen: set[tuple[str, str]] = set()
    found: list[ir.DataSetUse] = []
    for use in run.data_sets:
        key = (use.project, use.name)
        if use.producer_dag_id and use.producer_dag_id != dag_id and key not in seen:
            seen.add(key)
            found.append(use)
    return tuple(found)


def producer_run_id(use: ir.DataSetUse, context: Any) -> str:
    """One producer run per consumer try: a retried consumer may start the producer again."""
    ti = context["ti"]
    text = (
        f"data_set__{layout.safe(use.project)}.{layout.safe(use.name)}__for__{layout.safe(ti.dag_id)}"
        f"__{layout.safe(context['run_id'])}__try{ti.try_number}"
    )
    return text[:MAX_RUN_ID]


def ensure_produced(
    wanted: Sequence[ir.DataSetUse], settings: Settings, context: Any, log: Callable[..., None]
) -> None:
    """Return when every data set exists; otherwise start the first missing one's producer and defer."""
    for use in wanted:
        url = data_set_url(use, settings)
        if _has_version(url, settings):
            log("data set %s exists (%s); its producer %s does not need to run", use.name, url, use.producer_dag_id)
            continue
        run_id = producer_run_id(use, context)
        log("data set %s has no complete version: running %s first (run %s)", use.name, use.producer_dag_id, run_id)
        if _is_paused(str(use.producer_dag_id), context):
            log("the DAG %s is paused: its run, and this step, wait until it is unpaused", use.producer_dag_id)
        from airflow.sdk import timezone

        raise DagRunTriggerException(
            trigger_dag_id=str(use.producer_dag_id),
            dag_run_id=run_id,
            conf={},
            logical_date=timezone.utcnow(),
            reset_dag_run=False,
            skip_when_already_exists=False,
            wait_for_completion=True,
            allowed_states=["success"],
            failed_states=["failed"],
            poke_interval=POKE_SECONDS,
            deferrable=True,
        )


def _has_version(url: str, settings: Settings) -> bool:
    """Only a committed version counts: a producer that died half-way published nothing."""
    from .. import artifact_store
    from ..runtime import datasets

    return datasets.latest(artifact_store.location(settings, url)) is not None


def _is_paused(dag_id: str, context: Any) -> bool:
    get_dag = getattr(context["ti"], "get_dag", None)  # the task runner's; absent in plain unit tests
    if get_dag is None:
        return False
    try:
        return bool(get_dag(dag_id).is_paused)
    except Exception:  # noqa: BLE001  # only for a hint in the log: never fail the step over it
        return False


def check_producer_run(
    event: Any, wanted: Sequence[ir.DataSetUse], settings: Settings, context: Any
) -> None:
    """After a producer's run: it must have succeeded and published the data set it was started for."""
    _, data = event
    for run_id in data.get("run_ids") or []:
        state = data.get(run_id)
        use = next((u for u in wanted if producer_run_id(u, context) == run_id), None)
        what = f"data set {use.name}'s producer {use.producer_dag_id}" if use else "the producer"
        if state != "success":
            raise AirflowException(f"{what} ended '{state}' (run {run_id}); this step needs its data")
        if use is not None and not _has_version(data_set_url(use, settings), settings):
            raise AirflowFailException(
                f"{what} succeeded (run {run_id}) but published nothing at {data_set_url(use, settings)}: "
                f"its task must write the data set's path '{use.path}'"
            )
