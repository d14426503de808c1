#!/usr/bin/env bash
# Installs the browser the console's tests drive: Debian's `chromium` and
# `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver), with apt-get,
# when either is missing. Needs root (CI and these machines run as root; no
# sudo). Waits for another apt run's lock instead of failing on it.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "chromium and chromium-driver are missing; install them as root: apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
echo "==> installing chromium and chromium-driver (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium chromium-driver >&2
chromium --version >&2
chromedriver --version >&2
