"""Pod status -> one readable line."""

from __future__ import annotations

from typing import Any

from airflow_taskspec.backends.k8s_failures import failure_reason


def pod(status: dict[str, Any], limits: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "t-run-abc"},
        "spec": {"containers": [{"name": "base", "resources": {"limits": limits or {}}}]},
        "status": status,
    }


def terminated(code: int, reason: str = "Error", name: str = "base") -> dict[str, Any]:
    return {"name": name, "image": "img", "state": {"terminated": {"exitCode": code, "reason": reason}}}


def test_oom_killed_names_the_memory_limit() -> None:
    line = failure_reason(
        pod({"phase": "Failed", "containerStatuses": [terminated(137, "OOMKilled")]}, {"memory": "512Mi"})
    )
    assert line == (
        "container base ran out of memory and was killed (OOMKilled) (memory limit 512Mi); "
        "raise resources.memory"
    )


def test_image_pull_errors() -> None:
    for reason in ("ImagePullBackOff", "ErrImagePull"):
        status = {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "base",
                    "image": "nope:1",
                    "state": {"waiting": {"reason": reason, "message": "not found\nmore"}},
                }
            ],
        }
        line = failure_reason(pod(status))
        assert line.startswith(f"the image nope:1 of container base cannot be pulled ({reason}: not found)")
        assert "\n" not in line


def test_unschedulable_after_the_startup_timeout() -> None:
    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ],
    }
    assert failure_reason(pod(status), startup_timeout=300) == (
        "t-run-abc could not be scheduled within 300s (Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.)"
    )


def test_exit_codes_deadline_and_fallbacks() -> None:
    assert (
        failure_reason(pod({"phase": "Failed", "containerStatuses": [terminated(3)]}))
        == "the command exited with code 3"
    )
    init = {
        "phase": "Failed",
        "initContainerStatuses": [terminated(128, name="git")],
        "containerStatuses": [],
    }
    assert failure_reason(pod(init)) == "container git exited with code 128"
    assert "DeadlineExceeded" in failure_reason(pod({"phase": "Failed", "reason": "DeadlineExceeded"}))
    assert failure_reason(None, error="boom\ntraceback") == "boom"
    assert failure_reason(pod({"phase": "Failed"})) == "t-run-abc failed (phase Failed)"


def test_a_failed_filer_pod_is_the_filers_failure_with_its_last_line() -> None:
    said = {"exitCode": 1, "reason": "Error",
            "message": "taskspec: staging x\ntaskspec: provision failed: FileNotFoundError: s3://b/p not found\n"}
    status = {"phase": "Failed", "containerStatuses": [{"name": "base", "state": {"terminated": said}}]}
    assert failure_reason(pod(status), phase="provision") == (
        "the filer's provision failed: provision failed: FileNotFoundError: s3://b/p not found"
    )
    assert failure_reason(pod({"phase": "Failed", "containerStatuses": [terminated(137)]}), phase="collect") == (
        "the filer's collect failed: it exited with code 137"
    )
