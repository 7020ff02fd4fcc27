#!/usr/bin/env bash
# `make test`: the whole suite. Installs what the container and UI tests need first (podman, runc, debootstrap
# and chromium from Debian; the executor and filer test images built locally), so a fresh machine needs nothing
# by hand.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

echo "== podman and test images"
eval "$(scripts/podman-setup.sh)"
scripts/build-test-images.sh

echo "== PostgreSQL (the load test runs Airflow on it, as production does)"
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }
fi

echo "== chromium (UI screenshots)"
scripts/chromium-setup.sh >/dev/null

echo "== lint (ruff on everything, mypy --strict on the provider)"
.venv/bin/ruff check --quiet .
.venv/bin/mypy provider/airflow_taskspec

echo "== test suite"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
