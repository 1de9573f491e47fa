#!/usr/bin/env bash
# Every quality gate, in order. Installs what it needs (venv, collections, PostgreSQL, Prometheus,
# Chromium, podman, the test-host image; the local Kubernetes builds itself on first use) and
# runs each stage even after one fails, then exits non-zero if any did.
#
#   scripts/test.sh                 # all stages
#   scripts/test.sh lint pytest     # only the named stages
#   MOLECULE_SCENARIOS="os_tuning" scripts/test.sh molecule
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ALL_STAGES=(yamllint ansible-lint syntax pytest molecule)
STAGES=("${@:-${ALL_STAGES[@]}}")
[ "${STAGES[0]}" = lint ] && STAGES=(yamllint ansible-lint "${STAGES[@]:1}")

bash scripts/bootstrap.sh || { echo "test: bootstrap failed" >&2; exit 1; }
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
# Only the checkout's collections: a stray install under ~/.ansible must not shadow this tree.
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.cache/collections

apt_install() {
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || { echo "test: $* missing (apt-get install $*)" >&2; return 1; }
  echo "test: installing $* (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Real services the pytest stage starts privately: PostgreSQL, Prometheus (the agent's integration
# test), Chromium (the agent UI's browser test). The distribution's own instances are not needed.
ensure_services() {
  local missing=()
  command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v chromium >/dev/null || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install "${missing[@]}" || return 1
  systemctl disable --now postgresql prometheus prometheus-node-exporter >/dev/null 2>&1 || true
}

stage_yamllint() { yamllint --strict .; }
stage_ansible-lint() { ansible-lint --offline -q; }
stage_syntax() {
  local rc=0 playbook
  for playbook in playbooks/*.yml; do
    [ -e "$playbook" ] || continue
    ansible-playbook --syntax-check -i inventories/local "$playbook" >/dev/null || { echo "syntax: $playbook"; rc=1; }
  done
  return $rc
}
stage_pytest() { ensure_services && python -m pytest -q -p no:cacheprovider; }
stage_molecule() {
  bash scripts/testhost.sh image || return 1
  eval "$(bash scripts/testhost.sh env)"
  local rc=0 scenario scenarios
  scenarios=${MOLECULE_SCENARIOS:-$(for f in molecule/*/molecule.yml; do basename "$(dirname "$f")"; done)}
  for scenario in $scenarios; do
    echo "molecule: $scenario"
    molecule test -s "$scenario" > "$ROOT/.cache/molecule-$scenario.log" 2>&1 \
      && echo "molecule: $scenario passed" \
      || { echo "molecule: $scenario FAILED (log follows)"; tail -n 80 "$ROOT/.cache/molecule-$scenario.log"; rc=1; }
  done
  return $rc
}

passed=0 failed=0 failed_names=()
for stage in "${STAGES[@]}"; do
  echo "=== $stage"
  start=$SECONDS
  if "stage_$stage"; then
    passed=$((passed + 1)); echo "=== $stage ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failed_names+=("$stage"); echo "=== $stage FAILED ($((SECONDS - start)) s)"
  fi
done
[ $failed -eq 0 ] || echo "failed stages: ${failed_names[*]}"
echo "stages: $passed passed, $failed failed"
[ $failed -eq 0 ]
