"""Typed inputs in a running Airflow: the trigger form has a field per input, filled with its default and not
marked required when it has one (headless Chromium, screenshot docs/img/trigger-form.png), and the REST API
refuses a value outside its bounds before any run exists.

Set TASKSPEC_SCREENSHOTS=docs/img to refresh the screenshot committed in the repository.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow_server import AirflowServer
from browser import AirflowBrowser

from tests.conftest import REPO, make_dag_folder
from tests.integration.test_local_inputs import PROJECT

pytestmark = pytest.mark.integration

DAG_ID = "proj.segment"
FIELDS = ("threshold", "mode", "sizes", "mask")  # each has a default in PROJECT

# For each parameter row of the dialog: its label's text, whether the label carries Chakra's required indicator,
# and the text the row's widget shows (inputs' values, editors' text).
ROWS_JS = """
() => {
  const dialog = [...document.querySelectorAll('[role=dialog]')].pop();
  const rows = {};
  for (const label of dialog.querySelectorAll('label')) {
    const name = label.innerText.replace('*', '').trim();
    let row = label.parentElement;
    while (row && row !== dialog && !row.querySelector('input, textarea, [role=combobox], .cm-editor, .monaco-editor')) {
      row = row.parentElement;
    }
    if (!row || row === dialog) continue;
    const values = [...row.querySelectorAll('input, textarea')].map(e => e.value).filter(v => v);
    rows[name] = {
      label: label.innerText,
      required: !!label.querySelector('[class*=requiredIndicator], [class*=required-indicator]')
                || label.innerText.includes('*'),
      shown: values.join(' | ') + ' || ' + row.innerText,
    };
  }
  return rows;
}
"""


def test_the_trigger_form_shows_each_typed_input_with_its_default_and_rest_refuses_a_bad_value(
    tmp_path: Path,
) -> None:
    dags = make_dag_folder(tmp_path / "dags", {"proj": PROJECT})
    env = {"AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path}/store"}
    with AirflowServer(dags, tmp_path / "airflow", env, parallelism=2) as api:
        api.wait_for_dag(DAG_ID)
        refused = requests.post(f"{api.base}/api/v2/dags/{DAG_ID}/dagRuns", headers=api.headers, timeout=60,
                                json={"logical_date": None, "conf": {"threshold": 2}})
        assert refused.status_code == 400 and "2 is greater than the maximum of 1" in refused.text
        assert api.get(f"/api/v2/dags/{DAG_ID}/dagRuns")["total_entries"] == 0

        with AirflowBrowser(api, width=1280, height=1500) as browser:
            rows = _trigger_form_rows(browser, _screenshot("trigger-form.png", tmp_path))

    assert set(FIELDS) <= set(rows), rows
    assert {name: rows[name]["required"] for name in FIELDS} == dict.fromkeys(FIELDS, False), rows
    assert "0.5" in rows["threshold"]["shown"]
    assert "fast" in rows["mode"]["shown"]
    sizes = rows["sizes"]["shown"].replace(" ", "")
    assert "1," in sizes and "2" in sizes.split("1,", 1)[1], rows["sizes"]  # the array's default items, in order
    assert "none" in rows["mask"]["shown"]


def _trigger_form_rows(browser: AirflowBrowser, shot: Path) -> dict[str, Any]:
    page = browser.open(f"/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for(timeout=60_000)
    for folded in dialog.locator("button[aria-expanded=false]").all():  # unfold the parameters' section
        if "Run Parameters" in folded.inner_text():
            folded.click()
    dialog.locator("label", has_text="threshold").first.wait_for(timeout=30_000)
    deadline = time.monotonic() + 30
    while True:  # the array's editor fills in after the dialog opens
        rows = dict(page.evaluate(ROWS_JS))
        if "1," in rows.get("sizes", {}).get("shown", "").replace(" ", "") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    browser.screenshot(page, shot)
    return rows


def _screenshot(name: str, tmp_path: Path) -> Path:
    folder = os.environ.get("TASKSPEC_SCREENSHOTS")
    return (REPO / folder / name) if folder else tmp_path / name
