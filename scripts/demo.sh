#!/usr/bin/env bash
# make demo / make demo-down. Until the host deployment lands (site.yml on local podman nodes,
# then the smoke benchmark through the k6 role), this says what it will do and fails honestly.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<'MSG'
make demo will:
  1. create .venv and the collections (scripts/bootstrap.sh)
  2. build the test-host image if missing (scripts/testhost.sh image)
  3. start the local node containers (playbooks/local.yml)
  4. run playbooks/site.yml against inventories/local
  5. run the smoke benchmark through the k6 role (playbooks/benchmark.yml)
  6. print where the API, Prometheus and the benchmark report are
MSG
echo "demo: not available yet: the host deployment (site.yml, local nodes) is still being built" >&2
exit 1
