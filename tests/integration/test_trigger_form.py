"""Typed inputs in a running Airflow: the trigger form has a field per input (headless Chromium, screenshot in
docs/img/trigger-form.png), and the REST API refuses a value outside its bounds before any run exists."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from airflow_server import AirflowServer, free_port

from tests.conftest import make_dag_folder
from tests.integration.test_local_inputs import PROJECT

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DAG_ID = "proj.segment"


class Page:
    """The smallest DevTools-protocol client: one tab, calls answered in order."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                assert "error" not in answer, answer
                return dict(answer.get("result", {}))

    def js(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_the_trigger_form_shows_each_typed_input_and_rest_refuses_a_bad_value(tmp_path: Path) -> None:
    dags = make_dag_folder(tmp_path / "dags", {"proj": PROJECT})
    env = {"AIRFLOW__TASKSPEC__ARTIFACT_STORE": f"file://{tmp_path}/store"}
    with AirflowServer(dags, tmp_path / "airflow", env) as api:
        api.wait_for_dag(DAG_ID)
        import requests

        refused = requests.post(f"{api.base}/api/v2/dags/{DAG_ID}/dagRuns", headers=api.headers, timeout=60,
                                json={"logical_date": None, "conf": {"threshold": 2}})
        assert refused.status_code == 400 and "2 is greater than the maximum of 1" in refused.text
        assert api.get(f"/api/v2/dags/{DAG_ID}/dagRuns")["total_entries"] == 0

        form_text = _trigger_form(api.base, api.token, tmp_path)
    for field in ("threshold", "mode", "sizes", "mask"):
        assert field in form_text, form_text[-2000:]


def _trigger_form(base: str, token: str, tmp_path: Path) -> str:
    port = free_port()
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    proc = subprocess.Popen([str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             "--no-first-run", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
                             "--window-size=1280,1600", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tabs := _tabs(port)):
            assert time.monotonic() < deadline, "Chromium's DevTools endpoint did not come up"
            time.sleep(0.3)
        page = Page(next(t for t in tabs if t.get("type") == "page")["webSocketDebuggerUrl"])
        page.call("Network.enable")
        page.call("Network.setCookie", name="_token", value=token, url=base)
        page.call("Page.navigate", url=f"{base}/dags/{DAG_ID}")
        _wait_js(page, "[...document.querySelectorAll('button')].some(b => /Trigger/.test(b.innerText))")
        page.js("[...document.querySelectorAll('button')].filter(b => b.innerText.trim() === 'Trigger')"
                ".pop().click()")
        dialogs = "[...document.querySelectorAll('[role=dialog]')]"
        _wait_js(page, f"{dialogs}.some(d => /Trigger/.test(d.innerText))",
                 context=f"{dialogs}.map(d => d.innerText).join(' || ')")
        time.sleep(2)
        # Unfold the form's sections (the parameters may sit in a folded accordion).
        page.js(f"{dialogs}.forEach(d => d.querySelectorAll('button[aria-expanded=false]').forEach(b => b.click()))")
        _wait_js(page, f"{dialogs}.some(d => /threshold/.test(d.innerText))", timeout=30,
                 context=f"{dialogs}.map(d => d.innerText).join(' || ')")
        text = str(page.js(f"{dialogs}.map(d => d.innerText).join(' || ')"))
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        target = REPO / "docs" / "img" / "trigger-form.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot))
        return text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _tabs(port: int) -> list[dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
            return list(json.loads(r.read()))
    except OSError:
        return None


def _wait_js(page: Page, condition: str, timeout: float = 90,
             context: str = "document.body && document.body.innerText.slice(0, 2000)") -> None:
    deadline = time.monotonic() + timeout
    while not page.js(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {condition}: " + str(page.js(context))
        time.sleep(0.5)
