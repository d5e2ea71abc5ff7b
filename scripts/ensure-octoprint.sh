#!/usr/bin/env bash
# Install OctoPrint 1.11.8 (with its Virtual Printer) into its own venv for the print-farm tests.
# Idempotent: does nothing when the venv exists and its octoprint answers with the pinned version.
# OctoPrint pins flask/werkzeug/click/tornado tightly, so it never shares the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FABCOORD_OCTOPRINT_VENV:-.venv-octoprint}
version=1.11.8
python=${PYTHON:-python3}
marker="$venv/.installed-$version"
if [ -f "$marker" ] && "$venv/bin/python" -c "import octoprint" 2>/dev/null; then
  exit 0
fi
echo "installing OctoPrint $version into $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "octoprint==$version"
"$venv/bin/python" -c "import octoprint" 
touch "$marker"
