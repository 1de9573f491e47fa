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
  # All the packages in one pip run, so the applications' dependency on the shared package
  # (apps/dsa_service) is met by its source here, never looked up in an index.
  editables=()
  for app in apps/*/; do
    [ -f "$app/pyproject.toml" ] && editables+=(-e "${app}[test]")
  done
  "$VENV/bin/python" -m pip install --quiet "${editables[@]}"
  echo "$digest" > "$VENV/.requirements.sha256"
fi

"$VENV/bin/python" scripts/install_collections.py --dest .cache/collections --project .
