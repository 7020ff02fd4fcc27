"""A fake Kubernetes API server (kmock) on a free loopback port, with a tiny "kubelet", for one test.

    with FakeCluster(behaviour=lambda pod: "succeed") as cluster:
        cluster.kubeconfig        # a kubeconfig file pointing at it
        cluster.requests()        # [(method, path, body)] the server received, in order

The kubelet moves every pod Pending -> Running -> done according to ``behaviour(pod) -> str``:
``succeed``, ``fail:CODE``, ``oom``, ``imagepull``, ``unschedulable`` or ``hang`` (Running until deleted).
A pod's log is ``logs(pod) -> str`` (one line by default), served with a timestamp on each line as the API
server does for ``timestamps=true``. kmock ignores label selectors: one server per test.

Run as a script, this file runs ``dag.test()`` of one DAG from a DAG folder in a fresh process (Airflow
reads its configuration at import) and prints the task states as the last line (JSON).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

LOG_TEXT = "hello from the fake pod\n"
LOG_STAMP = "2026-01-01T00:00:00.000000000Z "


def _stamped(text: str) -> bytes:
    return "".join(LOG_STAMP + line + "\n" for line in text.splitlines()).encode()


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(pod: dict[str, Any], stage: int, behaviour: str) -> dict[str, Any] | None:
    """The pod status at a kubelet stage (0 scheduled, 1 running, 2 terminated); None: no change."""
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers", [])]
    image = {c["name"]: c.get("image", "x") for c in (pod.get("spec") or {}).get("containers", [])}

    def statuses(state: dict[str, Any], ready: bool = False) -> list[dict[str, Any]]:
        return [
            {"name": c, "ready": ready, "restartCount": 0, "image": image[c], "imageID": "x", "state": state}
            for c in containers
        ]

    if behaviour == "unschedulable":
        return {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": _now(),
                    "message": "0/1 nodes are available: 1 Insufficient memory.",
                }
            ],
        }
    scheduled = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]
    if behaviour == "imagepull":
        return {
            "phase": "Pending",
            "conditions": scheduled,
            "containerStatuses": statuses(
                {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "nope:1": not found',
                    }
                }
            ),
        }
    if stage == 0:
        return {"phase": "Pending", "conditions": scheduled}
    if stage == 1 or behaviour == "hang":
        return {
            "phase": "Running",
            "startTime": _now(),
            "conditions": scheduled,
            "containerStatuses": statuses({"running": {"startedAt": _now()}}, ready=True),
        }
    if stage == 2:
        code, reason = 0, "Completed"
        if behaviour.startswith("fail:"):
            code, reason = int(behaviour.split(":", 1)[1]), "Error"
        elif behaviour == "oom":
            code, reason = 137, "OOMKilled"
        term = {"exitCode": code, "reason": reason, "startedAt": _now(), "finishedAt": _now()}
        return {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": scheduled,
            "containerStatuses": statuses({"terminated": term}),
        }
    return None


@dataclass
class Seen:
    method: str
    path: str
    body: Any

    @property
    def resource(self) -> str:
        parts = self.path.split("?")[0].strip("/").split("/")
        # /api/v1/namespaces/NS/RESOURCE[/NAME[/SUB]]
        return parts[4] if len(parts) > 4 and parts[2] == "namespaces" else ""


class FakeCluster:
    def __init__(
        self,
        behaviour: Callable[[dict[str, Any]], str] = lambda pod: "succeed",
        kubeconfig_dir: str | None = None,
        tick: float = 0.2,
        logs: Callable[[dict[str, Any]], str] = lambda pod: LOG_TEXT,
    ) -> None:
        self.behaviour = behaviour
        self.logs = logs
        self.tick = tick
        self.kubeconfig_dir = kubeconfig_dir
        self.kubeconfig = ""
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._emulator: Any = None
        self._error: BaseException | None = None

    # --- lifecycle ---

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(30) or self._error:
            raise RuntimeError(f"kmock did not start: {self._error}")
        import tempfile

        folder = self.kubeconfig_dir or tempfile.mkdtemp(prefix="kmock-")
        self.kubeconfig = os.path.join(folder, "kubeconfig")
        with open(self.kubeconfig, "w") as fh:
            json.dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": "fake"}}],
                    "contexts": [
                        {
                            "name": "fake",
                            "context": {"cluster": "fake", "user": "fake", "namespace": "default"},
                        }
                    ],
                },
                fh,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001  # any startup failure is reported by __enter__
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        import kmock

        class Emulator(kmock.KubernetesEmulator):  # a real API server answers a create with phase Pending
            async def _serve_create(self, request: Any) -> Any:
                raw = await super()._serve_create(request)
                if getattr(request.resource, "plural", None) == "pods":
                    for (res, _ns, name), obj in self.objects.items():
                        if (
                            res.plural == "pods"
                            and name == raw.get("metadata", {}).get("name")
                            and not obj.deleted
                        ):
                            obj.patch({"status": {"phase": "Pending"}})
                            raw = obj.raw
                return raw

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Emulator() as k, kmock.Server(k) as server:
            k.resources.load_bundled()
            k["get /api/v1/namespaces/*/pods/*/log"] << (lambda request: self._log_of(k, request))
            self._emulator = k
            self.url = str(server.url).rstrip("/")
            kubelet = asyncio.create_task(self._kubelet(k))
            self._ready.set()
            await self._stop.wait()
            kubelet.cancel()

    def _log_of(self, k: Any, request: Any) -> bytes:
        """The log of the pod named in ``/api/v1/namespaces/NS/pods/NAME/log``."""
        parts = request.url.path.strip("/").split("/")
        namespace, name = parts[3], parts[5]
        for (res, ns, pod_name), obj in list(k.objects.items()):
            if getattr(res, "plural", None) == "pods" and (ns, pod_name) == (namespace, name):
                return _stamped(self.logs(obj.raw))
        return b""

    async def _kubelet(self, k: Any) -> None:
        stages: dict[Any, int] = {}
        while True:
            for key, obj in list(k.objects.items()):
                resource, _ns, _name = key
                if obj.deleted or getattr(resource, "plural", None) != "pods":
                    continue
                stage = stages.get(key, 0)
                status = _status(obj.raw, stage, self.behaviour(obj.raw))
                if status is not None:
                    obj.patch({"status": status})
                stages[key] = min(stage + 1, 3)
            await asyncio.sleep(self.tick)

    # --- what the server saw ---

    def _call(self, fn: Callable[[], Any]) -> Any:
        assert self._loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def requests(self) -> list[Seen]:
        def snapshot() -> list[Seen]:
            return [
                Seen(
                    str(r.method.value if hasattr(r.method, "value") else r.method).upper(),
                    r.url.path_qs,
                    r.data,
                )
                for r in list(self._emulator)
            ]

        return list(self._call(snapshot))

    def live_objects(self, plural: str) -> list[dict[str, Any]]:
        def snapshot() -> list[dict[str, Any]]:
            return [
                obj.raw
                for (res, _ns, _n), obj in list(self._emulator.objects.items())
                if getattr(res, "plural", None) == plural and not obj.deleted
            ]

        return list(self._call(snapshot))

    def created(self, resource: str) -> list[dict[str, Any]]:
        return [r.body for r in self.requests() if r.method == "POST" and r.resource == resource]

    def deleted(self, resource: str) -> list[str]:
        return [
            r.path.split("?")[0].rsplit("/", 1)[1]
            for r in self.requests()
            if r.method == "DELETE" and r.resource == resource and r.path.count("/") >= 6
        ]


# --- dag.test() in a fresh process ---


def run_dag_test(
    dag_id: str, folder: str, env: dict[str, str], timeout: float = 240
) -> tuple[dict[str, str], str]:
    """Run ``dag.test()`` in a subprocess; returns ({task_id: state}, the process output)."""
    import subprocess

    env = {"AIRFLOW__CORE__DAGS_FOLDER": folder, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env}
    proc = subprocess.run(
        [sys.executable, __file__, dag_id, folder],
        check=False,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("TASK_STATES "):
            return json.loads(line[len("TASK_STATES ") :]), output
    raise AssertionError(f"dag.test() of {dag_id} did not finish (exit {proc.returncode}):\n{output[-6000:]}")


def _main_dag_test(dag_id: str, folder: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(folder)
    dag = bag.get_dag(dag_id)
    if dag is None:
        print(f"no DAG {dag_id}; import errors: {bag.import_errors}", file=sys.stderr)
        sys.exit(3)
    timeout = os.environ.get("TASKSPEC_TEST_RUN_TIMEOUT")
    if timeout:  # AME has no timeout key: give every step one, to test what a timeout does
        for task in dag.tasks:
            if not task.is_teardown:
                task.execution_timeout = datetime.timedelta(seconds=float(timeout))
    dr = dag.test()
    states = {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dr.get_task_instances()
    }
    print("TASK_STATES " + json.dumps(states), flush=True)


if __name__ == "__main__":
    _main_dag_test(sys.argv[1], sys.argv[2])
