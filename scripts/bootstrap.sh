#!/usr/bin/env bash
# Create the controller venv with the pinned toolchain and the collections, once.
# Re-running is fast: pip is skipped while requirements-dev.txt and the app manifests are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: need Python 3.11 or newer as \$PYTHON (got: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

inputs=(requirements-dev.txt)
for manifest in apps/*/pyproject.toml; do [ -f "$manifest" ] && inputs+=("$manifest"); done
digest=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$digest" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt
  for app in apps/*/; do
    if [ -f "$app/pyproject.toml" ]; then
      "$VENV/bin/python" -m pip install --quiet -e "${app}[test]"
    fi
  done
  echo "$digest" > "$VENV/.requirements.sha256"
fi

"$VENV/bin/python" scripts/install_collections.py --dest .cache/collections --project .
