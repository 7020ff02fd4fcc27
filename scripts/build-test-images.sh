#!/usr/bin/env bash
# Build the images the podman integration tests run, without any container registry:
#
#   localhost/taskspec-base:test      Debian bookworm (debootstrap minbase) + python3, venv, pip
#   localhost/taskspec-executor:test  images/executor/Dockerfile on that base, pyenv skipped
#   localhost/taskspec-filer:test     images/filer/Dockerfile on that base
#
# Usage: scripts/build-test-images.sh [--force]
#
# Fast when nothing changed: the debootstrap rootfs is cached as a tarball under .cache/images/, and
# each image carries a label with the hash of its inputs (Dockerfile, base image, runtime sources); an
# image whose label matches is not rebuilt. --force rebuilds all three without podman's layer cache
# (picking up new package versions); the rootfs tarball is kept, delete .cache/images/ to redo it.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${TASKSPEC_CACHE_DIR:-$repo_root/.cache}/images"

force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

eval "$("$repo_root/scripts/podman-setup.sh")"
mkdir -p "$cache_dir"

# One build at a time: parallel test sessions on the same machine share podman's image store.
exec 9>"$cache_dir/build.lock"
flock 9

# TASKSPEC_TEST_IMAGE_TAG: another tag for the executor and filer images, so two checkouts with different
# runtime sources (e.g. git worktrees) can test on one machine without rebuilding each other's images.
tag=${TASKSPEC_TEST_IMAGE_TAG:-test}
base_image=localhost/taskspec-base:test
executor_image=localhost/taskspec-executor:$tag
filer_image=localhost/taskspec-filer:$tag

suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# python3-venv and python3-pip: the Dockerfiles create venvs; ca-certificates: pip and git over https.
include=python3,python3-venv,python3-pip,ca-certificates

log() { printf 'build-test-images: %s\n' "$*" >&2; }

label_of() { # image label -> value, empty when the image or label is missing
    podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true
}

up_to_date() { # image hash -> 0 when the image exists with that inputs hash (and no --force)
    [[ $force -eq 0 && "$(label_of "$1" taskspec.inputs-hash)" == "$2" ]]
}

hash_of() { sha256sum | cut -c1-16; }

started=$SECONDS

# ---- base image: debootstrap rootfs -> podman import ----
# Where egress goes through a TLS-intercepting proxy, the host trusts extra CAs
# (/usr/local/share/ca-certificates); the base image must trust them too or pip and uv fail in builds.
extra_cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e "${extra_cas[0]}" ]] || extra_cas=()
base_hash="$({
    printf '%s\n' "$suite" minbase "$mirror" "$include"
    ((${#extra_cas[@]})) && cat "${extra_cas[@]}"
    true
} | hash_of)"
rootfs_tar="$cache_dir/rootfs-$suite-minbase-$base_hash.tar"
if up_to_date "$base_image" "$base_hash"; then
    log "$base_image is up to date"
else
    if [[ ! -s "$rootfs_tar" ]]; then
        log "debootstrap $suite (minbase + $include) -> $rootfs_tar"
        rootfs="$(mktemp -d "$cache_dir/rootfs.XXXXXX")"
        trap 'rm -rf "$rootfs"' EXIT
        debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" >&2
        # Downloaded .debs and apt lists would only make the image larger.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        if ((${#extra_cas[@]})); then
            cp "${extra_cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
            chroot "$rootfs" update-ca-certificates >&2
        fi
        tar -C "$rootfs" --numeric-owner -cf "$rootfs_tar.partial" .
        mv "$rootfs_tar.partial" "$rootfs_tar"
        rm -rf "$rootfs"
        trap - EXIT
    fi
    log "importing $rootfs_tar as $base_image"
    # The *_CERT* variables: pip in a venv and uv ship their own CA lists; point them at the system's.
    podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL taskspec.inputs-hash=$base_hash" \
        "$rootfs_tar" "$base_image" >/dev/null
fi
base_id="$(podman image inspect --format '{{.Id}}' "$base_image")"

# ---- executor and filer images from the real Dockerfiles ----
no_cache=()
((force)) && no_cache=(--no-cache)

build() { # image dockerfile hash
    local image="$1" dockerfile="$2" hash="$3"
    if up_to_date "$image" "$hash"; then
        log "$image is up to date"
        return
    fi
    log "building $image from $dockerfile"
    # PYENV_VERSIONS="": pyenv compiles Pythons downloaded from python.org, unreachable here.
    podman build \
        --file "$repo_root/$dockerfile" \
        --tag "$image" \
        --build-arg "BASE_IMAGE=$base_image" \
        --build-arg PYENV_VERSIONS= \
        --label "taskspec.inputs-hash=$hash" \
        "${no_cache[@]}" \
        "$repo_root" >&2
}

executor_hash="$({ echo "$base_id"; cat "$repo_root/images/executor/Dockerfile"; } | hash_of)"
build "$executor_image" images/executor/Dockerfile "$executor_hash"

runtime_dir="$repo_root/provider/airflow_taskspec/runtime"
filer_hash="$({
    echo "$base_id"
    cat "$repo_root/images/filer/Dockerfile"
    # The runtime's sources are baked into the image: any change to them means a rebuild.
    (cd "$repo_root" && find provider/airflow_taskspec/runtime -type f ! -path '*/__pycache__/*' \
        ! -name '*.pyc' -print0 | sort -z | xargs -0r sha256sum)
} | hash_of)"
if [[ ! -d "$runtime_dir" ]]; then
    echo "build-test-images: $runtime_dir is missing; cannot build $filer_image" >&2
    exit 1
fi
build "$filer_image" images/filer/Dockerfile "$filer_hash"

log "done in $((SECONDS - started)) s"
