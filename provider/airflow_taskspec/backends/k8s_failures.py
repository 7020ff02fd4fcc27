"""Why a pod failed, in one line a user can act on. A pure function of the pod's status (a manifest dict)."""

from __future__ import annotations

from typing import Any

_IMAGE_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


def _statuses(status: dict[str, Any]) -> list[dict[str, Any]]:
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def _limit(pod: dict[str, Any], container: str, resource: str) -> str | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            return ((c.get("resources") or {}).get("limits") or {}).get(resource)
    return None


_FILER_PHASES = ("provision", "collect")


def _last_line(message: str | None) -> str:
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1].removeprefix("taskspec: ") if lines else ""


def failure_reason(
    pod: dict[str, Any] | None,
    *,
    container: str = "base",
    startup_timeout: int | None = None,
    error: str = "",
    phase: str = "run",
) -> str:
    """One line: OOMKilled, image pull errors, Unschedulable, deadline exceeded, exit codes, else ``error``.
    A filer pod (provision, collect) that exits with an error is the filer's failure, with the last line it
    wrote (its termination message: the pod's log tail, ``FallbackToLogsOnError``)."""
    pod = pod or {}
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name") or "the pod"
    for cs in _statuses(status):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _IMAGE_PULL:
            message = (waiting.get("message") or "").strip().splitlines()
            detail = f": {message[0]}" if message else ""
            return (
                f"the image {cs.get('image') or '?'} of container {cs.get('name')} cannot be pulled "
                f"({waiting['reason']}{detail}); check the image name, tag and pull secret"
            )
    if status.get("reason") == "DeadlineExceeded":
        return f"{name} ran longer than its deadline and was stopped (DeadlineExceeded)"
    if status.get("reason") == "Evicted":
        return f"{name} was evicted by Kubernetes ({status.get('message') or 'node pressure'})"
    for cs in _statuses(status):
        term = (
            (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
        )
        if term.get("reason") == "OOMKilled":
            limit = _limit(pod, cs.get("name", ""), "memory")
            where = f" (memory limit {limit})" if limit else ""
            return (
                f"container {cs.get('name')} ran out of memory and was killed (OOMKilled){where}; "
                "raise resources.memory"
            )
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            waited = f" within {startup_timeout}s" if startup_timeout else ""
            detail = f": {cond['message']}" if cond.get("message") else ""
            return f"{name} could not be scheduled{waited} ({cond.get('reason') or 'Unschedulable'}{detail})"
    ordered = sorted(_statuses(status), key=lambda cs: cs.get("name") != container)
    for cs in ordered:
        term = (cs.get("state") or {}).get("terminated") or {}
        code = term.get("exitCode")
        if code not in (None, 0) and phase in _FILER_PHASES and cs.get("name") == container:
            said = _last_line(term.get("message"))
            return f"the filer's {phase} failed: {said or f'it exited with code {code}'}"
        if code not in (None, 0):
            what = "the command" if cs.get("name") == container else f"container {cs.get('name')}"
            signal = f" (signal {term['signal']})" if term.get("signal") else ""
            return f"{what} exited with code {code}{signal}"
    if status.get("phase") == "Pending" and "took too long" in error:
        return (
            f"{name} did not start{' within ' + str(startup_timeout) + 's' if startup_timeout else ''} "
            f"(still Pending; see the pod events)"
        )
    first = error.strip().splitlines()[0] if error.strip() else ""
    return first or f"{name} failed (phase {status.get('phase') or 'unknown'})"
