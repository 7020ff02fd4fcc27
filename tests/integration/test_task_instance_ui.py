"""What a user sees of one task instance in a real Airflow (`airflow standalone`: scheduler, LocalExecutor, task
supervisor, api-server; local backend): the step's extra links to what that try saved (REST `/links`, and the
buttons on the task instance's page, screenshot), and a secret the command prints shown as `***` in the task log
served over REST, which is where the supervisor's redaction happens (`airflow dags test` does not redact).

Set TASKSPEC_SCREENSHOTS=docs/img to refresh the screenshot committed in the repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from airflow_server import AirflowServer
from browser import AirflowBrowser

from tests.conftest import REPO, make_dag_folder
from tests.integration.test_local_pipeline import SECRETIVE  # prints the secret the command gets

pytestmark = pytest.mark.integration

SAVER = """\
name: saver
tasks:
  - name: writes
    executor: !custom
      command: mkdir -p out && echo "$RANDOM" > out/result.txt && echo notes > out/notes.txt
    artifacts:
      paths: [out/result.txt, out/notes.txt]
"""

SECRET = "plain-value-7c1e0b"  # nothing in its name or value looks sensitive to Airflow's own heuristics

LINKS = ("Outputs (manifest)", "Artifact store")


class Site:
    def __init__(self, airflow: AirflowServer, root: Path) -> None:
        self.airflow, self.store = airflow, root / "store"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ti-ui")
    dags = make_dag_folder(root / "dags", {"saver": SAVER, "secretive": SECRETIVE})
    env = {
        "AIRFLOW__TASKSPEC__WORKSPACE_ROOT": str(root / "ws"),
        "AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{root / 'store'}",
        "TASKSPEC_COMPILE_CACHE_DIR": str(root / "compile-cache"),
        "AIRFLOW_VAR_DB_LOGIN": SECRET,  # the Airflow Variable `db_login` the spec's secret names
    }
    with AirflowServer(dags, root / "home", env=env, parallelism=2) as airflow:
        yield Site(airflow, root)


def _run(airflow: AirflowServer, dag_id: str) -> str:
    airflow.wait_for_dag(dag_id)
    airflow.unpause(dag_id)
    run_id = airflow.trigger(dag_id)
    run = airflow.wait_for_run(dag_id, run_id)
    states = {k: v["state"] for k, v in airflow.task_instances(dag_id, run_id).items()}
    assert run["state"] == "success", states
    return run_id


def _ti_path(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"


def test_each_try_links_to_its_own_output_manifest_and_store_folder(site: Site, tmp_path: Path) -> None:
    airflow, dag_id, step = site.airflow, "saver.writes", "writes"
    runs = [_run(airflow, dag_id), _run(airflow, dag_id)]
    seen = []
    for run_id in runs:
        links = airflow.get(_ti_path(dag_id, run_id, step) + "/links")["extra_links"]
        manifest = airflow.get(_ti_path(dag_id, run_id, step) + "/xcomEntries/output_manifest")["value"]
        manifest = json.loads(manifest) if isinstance(manifest, str) else manifest
        assert set(links) == set(LINKS), links
        assert links["Outputs (manifest)"] == (
            f"{airflow.base.replace('127.0.0.1', 'localhost')}/dags/{dag_id}/runs/{quote(run_id, safe='')}"
            f"/tasks/{step}/xcom")
        store_url = links["Artifact store"]
        assert store_url == manifest["artifact_url"]
        folder = Path(store_url.removeprefix("file://"))
        committed = json.loads((folder / "manifest.json").read_text())
        assert sorted(f["path"] for f in committed["files"]) == ["out/notes.txt", "out/result.txt"]
        assert sorted(a["path"] for a in manifest["artifacts"]) == ["out/notes.txt", "out/result.txt"]
        seen.append((links["Outputs (manifest)"], store_url))
    assert len(set(seen)) == 2 and seen[0][1] != seen[1][1]  # per task instance: each run's own

    # The UI: the task instance's Details tab shows the links it can open as buttons (Airflow's UI shows only
    # http(s) and same-origin links, so not a file:// store folder); the button opens the manifest's XCom page.
    run_id = runs[-1]
    with AirflowBrowser(airflow, width=1400, height=800) as browser:
        page = browser.open(f"/dags/{dag_id}/runs/{run_id}/tasks/{step}/details", wait_for="text=Outputs (manifest)")
        anchors = {a.inner_text().strip(): a.get_attribute("href")
                   for a in page.query_selector_all("a") if a.inner_text().strip() in LINKS}
        shot = browser.screenshot(page, _screenshot("step-extra-links.png", tmp_path))
        xcom_page = browser.open(seen[-1][0].replace(airflow.base.replace("127.0.0.1", "localhost"), ""),
                                 wait_for="text=output_manifest")
        xcom_page.locator("button[aria-label^='Expand']").first.click()  # unfold the values' JSON
        xcom_page.wait_for_selector("text=out/result.txt", timeout=30_000)
        xcom_text = xcom_page.inner_text("body")
        browser.screenshot(xcom_page, _screenshot("step-output-manifest-xcom.png", tmp_path))
    assert anchors == {"Outputs (manifest)": seen[-1][0]}, anchors
    assert "out/result.txt" in xcom_text and "sha256" in xcom_text
    assert shot.stat().st_size > 10_000


def test_a_secret_the_command_prints_is_masked_in_the_task_log(site: Site) -> None:
    airflow, dag_id, step = site.airflow, "secretive.reads", "reads"
    run_id = _run(airflow, dag_id)
    [seen] = list((site.store / "artifacts" / "secretive" / "reads").glob("*/reads/files/seen.txt"))
    assert seen.read_text() == SECRET  # the command got the value itself
    log = airflow.task_log(dag_id, run_id, step, 1)
    text = "\n".join(log)
    assert "got:***" in log, text[-3000:]
    assert SECRET not in text
    raw = airflow.get(_ti_path(dag_id, run_id, step) + "/logs/1", full_content="true")
    assert SECRET not in json.dumps(raw)  # nor anywhere else in what the log endpoint serves


def _screenshot(name: str, tmp_path: Path) -> Path:
    folder = os.environ.get("TASKSPEC_SCREENSHOTS")
    return (REPO / folder / name) if folder else tmp_path / name
