#!/usr/bin/env bash
# Install podman and write the containers.conf our tests need.
#
# Idempotent: packages are installed only when missing (apt-get update runs only
# then), and the config file is rewritten only when its content changes.
# Prints the line to export, e.g.:   eval "$(scripts/podman-setup.sh)"
#
# Why a custom containers.conf: on these machines podman's default runtime
# (crun) fails on rlimits and hybrid cgroups; runc with explicit ulimits works.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conf_dir="${TASKSPEC_CACHE_DIR:-$repo_root/.cache}/podman"
conf_file="$conf_dir/containers.conf"

# catatonit: podman builds its local pod "pause" (infra) image from it, no registry needed.
packages=(podman runc debootstrap crun fuse-overlayfs slirp4netns uidmap catatonit)

missing=()
for pkg in "${packages[@]}"; do
    # dpkg-query exits 0 for removed-but-configured packages too, so check the status text.
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "podman-setup: missing packages ${missing[*]}; run this script as root" >&2
        exit 1
    fi
    echo "podman-setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

mkdir -p "$conf_dir"
desired='[containers]
# The default (unlimited) rlimits are refused by runc on these machines.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
# crun fails here on hybrid cgroups; runc works.
runtime = "runc"
'
if [[ ! -f "$conf_file" ]] || [[ "$(cat "$conf_file")" != "${desired%$'\n'}" ]]; then
    printf '%s' "$desired" >"$conf_file"
fi

# Sanity check: fail loudly here rather than in the middle of a test run.
CONTAINERS_CONF="$conf_file" podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null

echo "export CONTAINERS_CONF=$conf_file"
