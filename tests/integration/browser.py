"""Headless Chromium (Debian's, installed by scripts/chromium-setup.sh) driven by Playwright, logged in to an
Airflow UI, for screenshots and checks of what a person sees.

    with AirflowBrowser(airflow) as browser:
        page = browser.open("/dags/p.t/runs/RUN_ID")
        browser.screenshot(page, path)

Playwright runs the browser it is given (``executable_path``): no browser download.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Self

from airflow_server import AirflowServer

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "chromium-setup.sh"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    """The browser's path, installing Debian's chromium first when it is missing."""
    done = subprocess.run([str(SETUP)], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{SETUP.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


class AirflowBrowser:
    def __init__(self, airflow: AirflowServer, width: int = 1500, height: int = 900) -> None:
        self.airflow, self.size = airflow, {"width": width, "height": height}
        self._playwright: Any = None
        self._browser: Any = None
        self.context: Any = None

    def __enter__(self) -> Self:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=chromium(), args=ARGS, headless=True)
        self.context = self._browser.new_context(viewport=self.size, base_url=f"http://localhost:{self.airflow.port}")
        # The UI keeps its login (a JWT) in the `_token` cookie.
        self.context.add_cookies([{"name": "_token", "value": self.airflow.token, "domain": "localhost", "path": "/"}])
        return self

    def __exit__(self, *exc: object) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    def open(self, path: str, wait_for: str | None = None, timeout_ms: int = 60_000) -> Any:
        page = self.context.new_page()
        page.goto(path, wait_until="networkidle", timeout=timeout_ms)
        if wait_for:
            page.wait_for_selector(wait_for, timeout=timeout_ms)
        return page

    @staticmethod
    def screenshot(page: Any, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=False)
        return path
