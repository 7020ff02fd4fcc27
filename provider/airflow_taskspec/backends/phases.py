"""What every backend shares: the run's names and URLs from the Airflow context, secrets, the data-set gate,
and the collect rule (save outputs, then fail if the run did not succeed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from .. import artifact_store, ir
from ..config import Settings
from ..runtime import datasets, layout
from . import StepPlan


@dataclass(frozen=True)
class RunNames:
    """The names and store URLs of one step of one DAG run, derived from the Airflow context."""

    dag_id: str
    run_id: str
    step: str
    settings: Settings

    @classmethod
    def from_context(cls, plan: StepPlan, settings: Settings, context: Any) -> RunNames:
        return cls(plan.dag_id, context["run_id"], plan.group_id, settings)

    @property
    def artifact_url(self) -> str:
        return layout.artifact_url(self.settings.artifact_store, self.dag_id, self.run_id, self.step)

    @property
    def exchange_url(self) -> str:
        return layout.exchange_url(self.settings.artifact_store, self.dag_id, self.run_id, self.step)

    @property
    def meta(self) -> dict[str, str]:
        """Recorded in every manifest this step commits: which run of which step wrote it."""
        return {"dag_id": self.dag_id, "run_id": self.run_id, "step": self.step}

    def earlier_outputs(self, plan: StepPlan) -> list[str]:
        return [layout.exchange_url(self.settings.artifact_store, self.dag_id, self.run_id, s) for s in plan.earlier_steps]

    def provided_env(self, workspace: str) -> dict[str, str]:
        """The variables listed in ir.PROVIDED_ENV_VARS (VIRTUAL_ENV is set by the recipe)."""
        return {
            "TASKSPEC_WORKSPACE": workspace,
            "TASKSPEC_DAG_ID": self.dag_id,
            "TASKSPEC_RUN_ID": self.run_id,
            "TASKSPEC_TASK": self.step,
            "TASKSPEC_ARTIFACT_URL": self.artifact_url,
        }


class TaskRunOperator(BaseOperator):
    """An operator for one phase of one TaskRun: what it runs (``task_run``), where (``plan``), with what config."""

    def __init__(self, *, plan: StepPlan, settings: Settings, task_run: ir.TaskRun, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.settings = settings
        self.task_run = task_run


def execution_timeout(run: ir.TaskRun) -> timedelta | None:
    return timedelta(seconds=run.timeout_seconds) if run.timeout_seconds else None


def data_set_staging(run: ir.TaskRun, settings: Settings) -> list[dict[str, str]]:
    return [{"url": layout.dataset_url(settings.artifact_store, d.project, d.name), "path": d.path} for d in run.data_sets]


def data_set_publishing(run: ir.TaskRun, settings: Settings) -> list[dict[str, str]]:
    return [{"url": layout.dataset_url(settings.artifact_store, d.project, d.name), "path": d.path} for d in run.publishes]


def _values(run: ir.TaskRun, context: Any) -> list[tuple[ir.TaskInput, ir.Param, Any]]:
    """The run's value of each typed input, checked against its schema first: a run created around
    Airflow's own validation still fails here, before any workspace or pod exists."""
    from ..params import check, default_value

    specs = [i.param for i in run.inputs if i.param is not None]
    given = dict(context.get("params") or {})
    problems = check(specs, given)
    if problems:
        raise AirflowException("bad input for this run: " + "; ".join(problems))
    return [(i, i.param, given.get(i.param.name, default_value(i.param))) for i in run.inputs if i.param is not None]


def input_staging(run: ir.TaskRun, context: Any) -> list[dict[str, Any]]:
    """ProvisionSpec.inputs for this run (runtime.inputs says what each entry means)."""
    staged: list[dict[str, Any]] = [
        {"name": i.name, "path": i.path, **({"url": i.url} if i.url else {"content": i.content or ""})}
        for i in run.inputs if i.param is None
    ]
    staged += [{"name": i.name, "type": p.type.value, "value": v} for i, p, v in _values(run, context)]
    return staged


def input_env(run: ir.TaskRun, context: Any) -> dict[str, str]:
    from ..params import env_name
    from ..runtime.inputs import value_text

    return {env_name(i.name): value_text(p.type.value, v) for i, p, v in _values(run, context)}


def run_state(context: Any, run_task_id: str) -> str | None:
    ti = context["ti"]
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[run_task_id], run_ids=[ti.run_id])
    return (states.get(ti.run_id) or {}).get(run_task_id)


def fail_unless_run_succeeded(context: Any, run_task_id: str, saved: int) -> None:
    """Collect runs even after a failed run (to keep partial outputs); the group must still fail then."""
    state = run_state(context, run_task_id)
    if state != "success":
        raise AirflowException(
            f"the task's run step ended '{state}'; {saved} output files were saved before failing this step"
        )


def resolve_secrets(secrets: tuple[ir.SecretRef, ...], settings: Settings) -> dict[str, str]:
    """Secret values for the local backend, masked in every log line from here on."""
    from airflow.sdk import Variable
    from airflow.sdk.log import mask_secret

    values: dict[str, str] = {}
    for secret in secrets:
        if secret.store is ir.SecretStore.PLATFORM:
            name = settings.secret_variable_prefix + secret.key
            try:
                value = Variable.get(name)
            except Exception as exc:  # Variable missing: say which one to create
                raise AirflowException(
                    f"secret '{secret.key}' (for {secret.inject_as}) not found: create the Airflow Variable "
                    f"'{name}' (Admin > Variables, or `airflow variables set {name} VALUE`)"
                ) from exc
        else:
            value = _vault_secret(secret)
        mask_secret(value, secret.inject_as)
        values[secret.inject_as] = value
    return values


def _vault_secret(secret: ir.SecretRef) -> str:
    try:
        from airflow.providers.hashicorp.hooks.vault import VaultHook
    except ImportError:
        raise AirflowException(
            f"secret {secret.inject_as} comes from Vault '{secret.vault}', but the HashiCorp provider is not "
            "installed: pip install apache-airflow-providers-hashicorp and create a Vault connection named "
            f"'{secret.vault}'"
        ) from None
    data = VaultHook(vault_conn_id=secret.vault).get_secret(secret_path=secret.key) or {}
    if "value" not in data and len(data) != 1:
        raise AirflowException(f"Vault secret '{secret.key}' has keys {sorted(data)}; store one key named 'value'")
    return str(data.get("value", next(iter(data.values()), "")))


class EnsureDataSetOperator(TriggerDagRunOperator):
    """Runs a data set's producing DAG first, once: only when the data set has never been published."""

    ui_color = "#e8f7e4"

    def __init__(self, *, data_set_url: str, settings: Settings, **kwargs: Any) -> None:
        # Deferrable: while the producer runs, the wait is a trigger in the triggerer, not a worker slot.
        super().__init__(wait_for_completion=True, poke_interval=5, reset_dag_run=False, deferrable=True, **kwargs)
        self.data_set_url = data_set_url
        self.settings = settings

    def execute(self, context: Any) -> Any:
        if datasets.latest(artifact_store.location(self.settings, self.data_set_url)) is not None:
            self.log.info("data set %s exists; its producer %s does not need to run", self.data_set_url,
                          self.trigger_dag_id)
            return None
        self.log.info("data set %s has no complete version: running %s first", self.data_set_url, self.trigger_dag_id)
        return super().execute(context)

