"""runtime.environments: a PEACH environment is built once with uv and then reused, also under concurrency.

The requirement is a wheel made here, so nothing is downloaded; uv is wrapped by a script that records each
call, which is how "the second build installs nothing" is observed.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import threading
import zipfile
from pathlib import Path

from airflow_taskspec.backends.local import _uv_binary
from airflow_taskspec.runtime import environments

PY = "3.11"


def _wheel(folder: Path, name: str = "peachtoy", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel with one module ``peachtoy`` whose VALUE is 42."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    records = []
    for rel, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{rel},sha256={digest},{len(text.encode())}")
    records.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(path, "w") as zf:
        for rel, text in files.items():
            zf.writestr(rel, text)
        zf.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return path


def _recording_uv(tmp_path: Path) -> tuple[str, Path]:
    calls = tmp_path / "uv-calls.txt"
    wrapper = tmp_path / "uv"
    wrapper.write_text(f'#!/bin/bash\necho "$*" >> {calls}\nexec {_uv_binary()} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), calls


def _calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_the_second_build_installs_nothing(tmp_path: Path) -> None:
    uv, calls = _recording_uv(tmp_path)
    requirements = [f"peachtoy @ {_wheel(tmp_path / 'wheels').as_uri()}"]
    cache = str(tmp_path / "envs")
    first = environments.ensure(requirements, cache_dir=cache, python_version=PY, uv=uv, name="debr",
                                log=lambda _: None)
    assert first.built
    assert [c.split()[:2] for c in _calls(calls)] == [["venv", "--quiet"], ["pip", "install"]]
    imported = subprocess.run([first.python, "-c", "import peachtoy; print(peachtoy.VALUE)"], check=True,
                              capture_output=True, text=True)
    assert imported.stdout.strip() == "42"

    lines: list[str] = []
    second = environments.ensure(list(reversed(requirements)), cache_dir=cache, python_version=PY, uv=uv,
                                 name="debr", log=lines.append)
    assert not second.built
    assert second.path == first.path
    assert len(_calls(calls)) == 2  # uv was not called again
    assert lines == [f"taskspec: reusing the Python environment {first.path}"]
    assert sorted(p.name for p in Path(cache).iterdir()) == [Path(first.path).name, Path(first.path).name + ".lock"]


def test_other_requirements_are_another_environment() -> None:
    assert environments.key(["a==1", "b"], PY) == environments.key(["b", " a==1 ", ""], PY)
    assert environments.key(["a==1"], PY) != environments.key(["a==2"], PY)
    assert environments.key(["a==1"], "3.11") != environments.key(["a==1"], "3.12")


def test_two_tasks_building_the_same_environment_at_once_build_it_once(tmp_path: Path) -> None:
    uv, calls = _recording_uv(tmp_path)
    requirements = [f"peachtoy @ {_wheel(tmp_path / 'wheels').as_uri()}"]
    results: list[environments.Ready] = []

    def build() -> None:
        results.append(environments.ensure(requirements, cache_dir=str(tmp_path / "envs"), python_version=PY,
                                           uv=uv, log=lambda _: None))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.built for r in results) == [False, False, True]
    assert len({r.path for r in results}) == 1
    assert [c.split()[0] for c in _calls(calls)] == ["venv", "pip"]


def test_a_failed_install_leaves_nothing_half_built(tmp_path: Path) -> None:
    uv, _ = _recording_uv(tmp_path)
    cache = tmp_path / "envs"
    missing = f"peachtoy @ {(tmp_path / 'nowhere' / 'peachtoy-1.0-py3-none-any.whl').as_uri()}"
    try:
        environments.ensure([missing], cache_dir=str(cache), python_version=PY, uv=uv, log=lambda _: None)
    except environments.EnvironmentBuildError as exc:
        assert "`uv pip install` failed" in str(exc)
    else:
        raise AssertionError("installing a missing wheel must fail")
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []
