#!/usr/bin/env bash
# Install Debian's Chromium for the orders end-to-end test if it is missing (Playwright's own
# browser download does not work here); fast when it is already there. Runs as root in CI.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "chromium is missing: installing the Debian package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
