"""What the kubelet does to a container's env values, command and args before starting it: `$(NAME)` becomes
NAME's value when NAME is defined, `$$` becomes `$`, anything else stays (Kubernetes'
third_party/forked/golang/expansion). Podman 4.3 `kube play` does none of it, so the podman tests apply it
here, and the unit tests check taskspec's escaping against it."""

from __future__ import annotations

from typing import Any


def expand(text: str, defined: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            end = text.index(")", i)
            out.append(defined.get(text[i + 2 : end], text[i : end + 1]))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def expand_pod(pod: dict[str, Any]) -> None:
    """Expand every container of a pod manifest in place, as the kubelet would."""
    spec = pod.get("spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        defined: dict[str, str] = {}
        for var in container.get("env") or []:  # each value sees the variables before it
            if "value" in var:
                var["value"] = expand(str(var["value"]), defined)
                defined[var["name"]] = var["value"]
        for key in ("command", "args"):
            if container.get(key):
                container[key] = [expand(part, defined) for part in container[key]]
