"""The executor pod's script for a PEACH notebook task, run here with bash in a copy of the example project
(what the pod does after provision), with a system Python that has neither this package nor nbformat."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from airflow_taskspec import recipes
from airflow_taskspec.backends.local import _uv_binary
from airflow_taskspec.runtime import notebook

from tests.conftest import EXAMPLES

NEWSROOM = EXAMPLES / "peach_demo" / "newsroom"


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    shutil.copytree(NEWSROOM, ws)
    return ws


def _script(method: str, args: dict, *, prebuilt: bool, full: bool = False, notebook_name: str = "headlines"
            ) -> str:
    name = f"notebooks/{notebook_name}.ipynb"
    prog = notebook.program(str(NEWSROOM / name), name=name, method=method, full_notebook=full, args=args,
                            version="abc1234")
    return recipes.notebook_script(prog.to_json(), requirements=(), python_version="3.11", prebuilt=prebuilt)


def _bash(script: str, ws: Path) -> subprocess.CompletedProcess[str]:
    """As in the executor image: the system python3 (no airflow_taskspec, no nbformat) and uv on PATH."""
    tools = ws.parent / "tools"
    tools.mkdir(exist_ok=True)
    if not (tools / "uv").exists():
        (tools / "uv").symlink_to(_uv_binary())
    env = {"PATH": f"/usr/bin:/bin:{tools}", "HOME": str(ws.parent)}
    check = subprocess.run(["python3", "-c", "import nbformat"], env=env, capture_output=True, check=False)
    assert check.returncode != 0, "the task's python3 must not have nbformat for this test to mean anything"
    return subprocess.run(["bash", "-c", script], cwd=ws, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_pod_script_runs_the_method_cell_with_the_image_python(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    done = _bash(_script("rank_headlines", {"source": "data/articles.json", "top": 1, "weights": {"storm": 9}},
                         prebuilt=True), ws)
    assert done.returncode == 0, done.stderr
    assert recipes.notebook_result(done.stdout.splitlines()) == {
        "status": "ok", "result": {"top": ["Storm closes local schools"], "side_effect_ran": False}}
    assert not (ws / "SIDE_EFFECT_RAN").exists()
    assert (ws / "out" / "top_headlines.json").exists()


def test_the_pod_script_installs_the_environment_with_uv_then_runs(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    done = _bash(_script("word_stats", {"min_length": 8, "report": {"top": 1}}, prebuilt=False, full=True,
                         notebook_name="word_stats"), ws)
    assert done.returncode == 0, done.stderr
    assert (ws / ".taskspec" / "venv" / "bin" / "python").exists()
    assert "taskspec: installing the Python environment (0 requirements)" in done.stdout
    assert recipes.notebook_result(done.stdout.splitlines())["result"] == {
        "words": [["election", 2]], "full_notebook_ran": True}
    assert "skipped the IPython magic `!echo" in done.stdout  # no IPython in a fresh environment


def test_a_failing_method_fails_the_script_with_the_cell_and_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    done = _bash(_script("rank_headlines", {"source": "data/missing.json"}, prebuilt=True), ws)
    assert done.returncode == 1
    assert 'File "notebooks/headlines.ipynb", cell 6, line 12, in rank_headlines' in done.stderr
    assert "    articles = json.loads(Path(source).read_text())" in done.stderr
    assert recipes.notebook_result(done.stdout.splitlines())["status"] == "error"


def test_the_result_line_is_found_behind_a_log_prefix() -> None:
    lines = ["hello", '2026-12-01T00:00:00Z taskspec-notebook-result: {"status": "ok", "result": [1]}']
    assert recipes.notebook_result(lines) == {"status": "ok", "result": [1]}
    assert recipes.notebook_result(["no result here"]) is None
