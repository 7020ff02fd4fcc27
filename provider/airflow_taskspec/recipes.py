"""Executor kind -> the shell script that prepares the environment and runs the task's command.

The same scripts run in the local backend (bash on the worker) and in the executor pod. Each starts in the
workspace (the project folder), fails on the first error, and ends by running the user's command as written.
"""

from __future__ import annotations

import json
import os
import shlex

from .ir import ExecutorKind, Recipe

PROLOGUE = "set -euo pipefail\n"


def _need_file(name: str, kind: str) -> str:
    return (f'[ -f {shlex.quote(name)} ] || {{ echo "taskspec: the !{kind} executor needs {name} in the '
            f'project folder; none was found in $PWD" >&2; exit 2; }}\n')


def _need_tool(tool: str, kind: str) -> str:
    return (f'command -v {tool} >/dev/null 2>&1 || {{ echo "taskspec: the !{kind} executor needs `{tool}`, which is '
            f'not installed here; install it (pip install {tool}) or use an image that has it" >&2; exit 127; }}\n')


def _pip(python_version: str, env_cache_dir: str | None) -> str:
    py = shlex.quote(python_version)
    if env_cache_dir is None:
        # In a pod: a fresh environment inside the workspace.
        return (_need_file("requirements.txt", "pip")
                + f'uv venv --quiet --python {py} .venv\n'
                + 'uv pip install --quiet --python .venv/bin/python -r requirements.txt\n'
                + 'export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"\n')
    cache = shlex.quote(env_cache_dir)
    # Locally: one environment per (python version, requirements.txt content), reused by every later run.
    # Built beside its final place and renamed into it, so two runs never share a half-built environment.
    return (_need_file("requirements.txt", "pip")
            + f'mkdir -p {cache}\n'
            + f'env_dir={cache}/pip-py{py}-$(sha256sum requirements.txt | cut -c1-16)\n'
            + 'if [ ! -x "$env_dir/bin/python" ]; then\n'
            + '  echo "taskspec: creating the Python environment $env_dir"\n'
            + '  tmp="$env_dir.tmp.$$"; rm -rf "$tmp"\n'
            + f'  "$TASKSPEC_UV" venv --quiet --relocatable --python {py} "$tmp"\n'
            + '  "$TASKSPEC_UV" pip install --quiet --python "$tmp/bin/python" -r requirements.txt\n'
            + '  mv -T "$tmp" "$env_dir" 2>/dev/null || rm -rf "$tmp"\n'
            + 'else\n'
            + '  echo "taskspec: reusing the Python environment $env_dir"\n'
            + 'fi\n'
            + 'export VIRTUAL_ENV="$env_dir" PATH="$env_dir/bin:$PATH"\n')


def setup_script(recipe: Recipe, *, python_version: str, env_cache_dir: str | None = None) -> str:
    """Everything before the command: checks and environment setup for the executor kind."""
    kind = recipe.kind
    if kind is ExecutorKind.PIP:
        return _pip(python_version, env_cache_dir)
    if kind is ExecutorKind.POETRY:
        return (_need_tool("poetry", "poetry") + _need_file("pyproject.toml", "poetry") + _need_file("poetry.lock", "poetry")
                + "poetry install --no-interaction --no-root\n"
                + 'source "$(poetry env info --path)/bin/activate"\n')
    if kind is ExecutorKind.PIPENV:
        return (_need_tool("pipenv", "pipEnv") + _need_file("Pipfile", "pipEnv") + _need_file("Pipfile.lock", "pipEnv")
                + "pipenv sync\n"
                + 'source "$(pipenv --venv)/bin/activate"\n')
    if kind is ExecutorKind.MLFLOW:
        return _need_tool("mlflow", "mlflow") + _need_file("MLproject", "mlflow")
    return ""


def script(recipe: Recipe, *, python_version: str, env_cache_dir: str | None = None) -> str:
    return PROLOGUE + setup_script(recipe, python_version=python_version, env_cache_dir=env_cache_dir) + recipe.command + "\n"


RESULT_MARKER = "taskspec-notebook-result: "
"""Printed before the notebook's JSON result as the executor pod's last line, for the worker to read back."""


def notebook_script(program_json: str, *, requirements: tuple[str, ...], python_version: str,
                    prebuilt: bool = False) -> str:
    """The executor pod's script for a PEACH notebook entry point (see runtime/notebook.py).

    The pod's image has neither this package nor nbformat: the worker has picked the cells already
    (``program_json``, one line of JSON), and the runner, which needs only the standard library, is written
    into the workspace next to it. The environment is installed with uv into the workspace, unless the image
    already holds it (``prebuilt``, from ``[taskspec] peach_images``), whose ``python3`` then runs the task.
    """
    from .runtime import notebook, notebook_child

    with open(notebook_child.__file__, encoding="utf-8") as fh:
        runner = fh.read()
    if "\n" in program_json:
        raise ValueError("the program must be one line of JSON")
    meta = os.path.dirname(notebook.PROGRAM_FILE)
    lines = [PROLOGUE.rstrip("\n"), f"mkdir -p {meta}",
             f"cat > {meta}/notebook_child.py <<'TASKSPEC_RUNNER'\n{runner.rstrip()}\nTASKSPEC_RUNNER",
             f"cat > {notebook.PROGRAM_FILE} <<'TASKSPEC_PROGRAM'\n{program_json}\nTASKSPEC_PROGRAM"]
    if prebuilt:
        lines.append('py="$(command -v python3)"')
    else:
        py = shlex.quote(python_version)
        lines += [f'echo "taskspec: installing the Python environment ({len(requirements)} requirements)"',
                  f"uv venv --quiet --python {py} {meta}/venv", f'py="$PWD/{meta}/venv/bin/python"']
        if requirements:
            listed = "\n".join(requirements)
            lines += [f"cat > {meta}/requirements.txt <<'TASKSPEC_REQUIREMENTS'\n{listed}\nTASKSPEC_REQUIREMENTS",
                      f'uv pip install --quiet --python "$py" -r {meta}/requirements.txt']
    lines += [f'set +e; "$py" {meta}/notebook_child.py {notebook.PROGRAM_FILE} {notebook.RESULT_FILE}; code=$?; set -e',
              (f'[ -f {notebook.RESULT_FILE} ] && printf "%s%s\\n" {shlex.quote(RESULT_MARKER)} '
               f'"$(cat {notebook.RESULT_FILE})"'),
              'exit "$code"']
    return "\n".join(lines) + "\n"


def notebook_result(log_lines: list[str]) -> dict[str, object] | None:
    """The result record the script printed last (``{"status": "ok", "result": ...}``), if it printed one;
    a log line may carry a prefix (pod logs are read with timestamps)."""
    for line in reversed(log_lines):
        at = line.find(RESULT_MARKER)
        if at >= 0:
            found = json.loads(line[at + len(RESULT_MARKER):])
            return found if isinstance(found, dict) else None
    return None
