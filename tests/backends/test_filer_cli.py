"""`python -m airflow_taskspec.runtime`: the filer pod's entry point, run as the filer image runs it (the runtime
package alone on PYTHONPATH, no Airflow importable)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from airflow_taskspec import runtime

# Make `import airflow` fail, as in the filer image, then run the module.
_RUN = "import runpy, sys; sys.modules['airflow'] = None; sys.argv[0] = 'filer'; runpy.run_module('airflow_taskspec.runtime', run_name='__main__')"


def filer(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={"PYTHONPATH": str(root / "image"), "PATH": "/usr/bin:/bin"},
    )


def test_provision_then_collect(tmp_path: Path) -> None:
    image = tmp_path / "image" / "airflow_taskspec"
    shutil.copytree(Path(runtime.__file__).parent, image / "runtime")
    (image / "__init__.py").write_text("")
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print('hi')\n")
    store = f"file://{tmp_path}/store"
    ws = tmp_path / "ws"

    done = filer(
        tmp_path, "provision", "--spec", json.dumps({"workspace": str(ws), "project_url": str(project)})
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"files": 1, "data_sets": []}
    assert (ws / ".taskspec" / "manifest.json").exists()

    (ws / "out.txt").write_text("result\n")
    spec = {"workspace": str(ws), "artifact_url": f"{store}/artifacts", "save_changed_files": True}
    result_url = f"{store}/runs/collected.json"
    done = filer(tmp_path, "collect", "--spec", json.dumps(spec), "--result-url", result_url)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "store" / "runs" / "collected.json").read_text())
    assert [r["path"] for r in saved["artifacts"]] == ["out.txt"]
    assert (tmp_path / "store" / "artifacts" / "files" / "out.txt").read_text() == "result\n"
    assert json.loads((tmp_path / "store" / "artifacts" / "manifest.json").read_text())["files"][0]["path"] == "out.txt"


def test_bad_specs_say_what_is_wrong(tmp_path: Path) -> None:
    image = tmp_path / "image" / "airflow_taskspec"
    shutil.copytree(Path(runtime.__file__).parent, image / "runtime")
    (image / "__init__.py").write_text("")
    done = filer(tmp_path, "collect", "--spec", json.dumps({"workspace": "/x", "unknown": 1}))
    assert done.returncode == 2 and "bad collect spec" in done.stderr
    done = filer(tmp_path, "provision", "--spec", "{not json")
    assert done.returncode == 2 and "not valid JSON" in done.stderr


def test_any_failure_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    image = tmp_path / "image" / "airflow_taskspec"
    shutil.copytree(Path(runtime.__file__).parent, image / "runtime")
    (image / "__init__.py").write_text("")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "out.txt").write_text("x")
    spec = {"workspace": str(tmp_path / "ws"), "artifact_url": "nosuchstore://bucket/a", "artifact_paths": [],
            "save_changed_files": True, "exchange_url": None, "data_sets": [], "store_options": {}}
    done = filer(tmp_path, "collect", "--spec", json.dumps(spec))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("taskspec: collect failed: ") and "nosuchstore" in last, done.stderr
