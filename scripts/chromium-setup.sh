#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the UI tests (screenshots of the Airflow UI), when missing.
#
# Idempotent: apt-get runs only when the package is not installed. Prints the browser's path on stdout,
# e.g.   TASKSPEC_CHROMIUM=$(scripts/chromium-setup.sh)
set -euo pipefail

if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "chromium-setup: chromium is not installed; run this script as root" >&2
        exit 1
    fi
    echo "chromium-setup: installing chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
command -v chromium
