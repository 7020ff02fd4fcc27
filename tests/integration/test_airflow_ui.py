"""The one-task-per-step layout in a real Airflow (`airflow standalone`, LocalExecutor, local backend), seen as a
user sees it: the example pipeline's Graph view shows one box per step (screenshot), each step's log folds
its phases, a failed step cleared in the UI's way (REST `clearTaskInstances`) runs again whole in a fresh
workspace and succeeds once the cause is fixed, and a consumer's data set is produced first by its producer.

Set TASKSPEC_SCREENSHOTS=docs/images to refresh the screenshots committed in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_server import AirflowServer
from browser import AirflowBrowser

from tests.conftest import GATES, REPO

pytestmark = pytest.mark.integration

PIPELINE = "house_prices.train_and_compare"
STEPS = {"prepare_data", "train_linear", "train_knn", "compare"}
TEARDOWN = "taskspec_teardown"

CLEARABLE = """\
name: clearable
tasks:
  - name: needs_fix
    executor: !custom
      # input.txt is a project file: provision must have run in this try too. leftover.txt: a fresh workspace.
      command: >-
        cat input.txt && test ! -e leftover.txt && touch leftover.txt &&
        if [ -e "$FIX_FILE" ]; then echo fixed > result.txt; else echo "not fixed yet"; exit 3; fi
    env:
      - key: FIX_FILE
        val: {fix}
    artifacts:
      paths: [result.txt]
"""


class Site:
    def __init__(self, airflow: AirflowServer, root: Path) -> None:
        self.airflow, self.root = airflow, root
        self.store = root / "store"
        self.workspaces = root / "ws"
        self.fix = root / "fix-applied"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("airflow-ui")
    dags = root / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "clearable").mkdir()
    (dags / "clearable" / "ame.yaml").write_text(CLEARABLE.format(fix=root / "fix-applied"))
    (dags / "clearable" / "input.txt").write_text("a project file\n")
    (dags / "gates").mkdir()
    (dags / "gates" / "ame.yaml").write_text(GATES)
    env = {
        "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(root / "ws"),
        "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{root / 'store'}",
        "AIRFLOW__TASKSPEC__ENV_CACHE_DIR": os.environ["AIRFLOW__TASKSPEC__ENV_CACHE_DIR"],
        "TASKSPEC_COMPILE_CACHE_DIR": str(root / "compile-cache"),
    }
    with AirflowServer(dags, root / "home", env=env) as airflow:
        yield Site(airflow, root)


def screenshot_path(name: str, tmp_path: Path) -> Path:
    folder = os.environ.get("TASKSPEC_SCREENSHOTS")
    return (REPO / folder / name) if folder else tmp_path / name


@pytest.fixture(scope="module")
def pipeline_run(site: Site) -> str:
    airflow = site.airflow
    airflow.wait_for_dag(PIPELINE)
    airflow.unpause(PIPELINE)
    run_id = airflow.trigger(PIPELINE)
    run = airflow.wait_for_run(PIPELINE, run_id, timeout=600)
    tis = airflow.task_instances(PIPELINE, run_id)
    assert run["state"] == "success", json.dumps({k: v["state"] for k, v in tis.items()})
    return run_id


def test_the_pipeline_is_one_task_instance_per_step(site: Site, pipeline_run: str) -> None:
    tis = site.airflow.task_instances(PIPELINE, pipeline_run)
    assert {k: (v["state"], v["try_number"]) for k, v in tis.items()} == {
        **{s: ("success", 1) for s in STEPS}, TEARDOWN: ("success", 1)}
    assert {tis[s]["operator"] for s in STEPS} == {"LocalStepOperator"}
    assert not any(site.workspaces.rglob("*"))  # every step removed its workspace


def test_the_graph_view_shows_one_box_per_step(site: Site, pipeline_run: str, tmp_path: Path) -> None:
    with AirflowBrowser(site.airflow, width=1400, height=800) as browser:
        page = browser.open(f"/dags/{PIPELINE}/runs/{pipeline_run}")
        page.click('button[value="graph"]')
        page.wait_for_selector(".react-flow__node", timeout=60_000)
        time.sleep(2)  # the layout settles and fits the view
        boxes = sorted(n.inner_text().split("\n")[0] for n in page.query_selector_all(".react-flow__node"))
        shot = browser.screenshot(page, screenshot_path("graph-train_and_compare.png", tmp_path))
    assert boxes == sorted([*STEPS, TEARDOWN])
    assert shot.stat().st_size > 10_000


def test_each_phase_is_a_folded_section_of_the_step_log(site: Site, pipeline_run: str, tmp_path: Path) -> None:
    with AirflowBrowser(site.airflow, width=1400, height=700) as browser:
        page = browser.open(f"/dags/{PIPELINE}/runs/{pipeline_run}/tasks/compare", wait_for="text=cleanup done in")
        text = page.inner_text("body")
        folded = [p for p in ("workspace", "provision", "run", "collect", "cleanup") if f"▶ {p}" in text]
        hidden_before = "best model:" not in text  # the command's output sits inside the folded `run` section
        shot = browser.screenshot(page, screenshot_path("step-log-sections.png", tmp_path))
        page.get_by_text("▶ run", exact=True).click()
        shown_after = "best model:" in page.inner_text("body")
    assert folded == ["workspace", "provision", "run", "collect", "cleanup"]
    for phase in folded:
        assert f"taskspec: {phase} done in " in text  # each section's duration, visible while folded
    assert hidden_before and shown_after
    assert shot.stat().st_size > 10_000


def test_a_cleared_failed_step_runs_again_whole_in_a_fresh_workspace(site: Site) -> None:
    airflow, dag_id, step = site.airflow, "clearable.needs_fix", "needs_fix"
    airflow.wait_for_dag(dag_id)
    airflow.unpause(dag_id)
    run_id = airflow.trigger(dag_id)
    assert airflow.wait_for_run(dag_id, run_id)["state"] == "failed"
    first = airflow.task_log(dag_id, run_id, step, 1)
    assert "not fixed yet" in first and "taskspec: run failed: the command exited with code 3" in first

    site.fix.write_text("the cause is fixed\n")  # e.g. the missing input was provided
    cleared = airflow.clear(dag_id, run_id, [step])  # what the UI's Clear on the failed task sends
    assert set(cleared) == {step, TEARDOWN}  # the step, and (downstream) the run's teardown
    assert airflow.wait_for_run(dag_id, run_id)["state"] == "success"

    ti = airflow.task_instances(dag_id, run_id)[step]
    assert (ti["state"], ti["try_number"]) == ("success", 2)
    second = airflow.task_log(dag_id, run_id, step, 2)
    groups = [line.removeprefix("::group::") for line in second if line.startswith("::group::")]
    assert groups[groups.index("workspace"):] == ["workspace", "provision", "run", "collect", "cleanup",
                                                  "Post Execute"]
    assert any(line.startswith("provision: staged 2 project files") for line in second)
    assert "a project file" in second  # the command read the staged project file, in a fresh workspace
    results = list((site.store / "artifacts" / "clearable" / "needs_fix").glob("*/needs_fix/files/result.txt"))
    assert [r.read_text() for r in results] == ["fixed\n"]
    assert not any(site.workspaces.rglob("*"))


def test_a_consumer_runs_the_producer_of_a_missing_data_set_first(site: Site) -> None:
    airflow = site.airflow
    for dag_id in ("gates.make_numbers", "gates.sum_numbers"):
        airflow.wait_for_dag(dag_id)
        airflow.unpause(dag_id)
    run_id = airflow.trigger("gates.sum_numbers")
    assert airflow.wait_for_run("gates.sum_numbers", run_id)["state"] == "success"

    produced = airflow.get("/api/v2/dags/gates.make_numbers/dagRuns")["dag_runs"]
    assert [r["state"] for r in produced] == ["success"]
    assert produced[0]["dag_run_id"].startswith("data_set__gates.numbers__for__gates.sum_numbers__")
    totals = list((site.store / "artifacts" / "gates" / "sum_numbers").glob("*/sum_numbers/files/total.txt"))
    assert [t.read_text() for t in totals] == ["15\n"]  # 1 + ... + 5, from the producer's files
    log = airflow.task_log("gates.sum_numbers", run_id, "sum_numbers", 1)
    assert any("data set numbers has no complete version: running gates.make_numbers first" in line for line in log)

    # The data set exists now: a second run needs no producer run.
    again = airflow.trigger("gates.sum_numbers")
    assert airflow.wait_for_run("gates.sum_numbers", again)["state"] == "success"
    assert len(airflow.get("/api/v2/dags/gates.make_numbers/dagRuns")["dag_runs"]) == 1
