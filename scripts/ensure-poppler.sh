#!/usr/bin/env bash
# Install Debian's poppler-utils (pdftoppm) for the report tests, which render the PDF's pages to
# PNG, if it is missing; fast when it is already there. Runs as root in CI.
set -euo pipefail
if command -v pdftoppm >/dev/null 2>&1; then
  exit 0
fi
echo "pdftoppm is missing: installing the Debian package poppler-utils" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
command -v pdftoppm >/dev/null
