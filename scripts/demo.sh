#!/usr/bin/env bash
# make demo: the whole loop on this machine against inventories/local.
#   up:   venv + collections, test-host image, local node containers, site.yml, smoke benchmark,
#         then the agent's analysis of that run
#   down: remove the node containers, their network and the generated local credentials
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
INVENTORY=inventories/local

bash scripts/bootstrap.sh
export PATH=$ROOT/.venv/bin:$PATH ANSIBLE_CONFIG=$ROOT/ansible.cfg
playbook() { ansible-playbook -i "$INVENTORY" "$@"; }

case "${1:-up}" in
  up)
    start=$SECONDS
    bash scripts/testhost.sh image
    eval "$(bash scripts/testhost.sh env)"
    echo "demo: starting the local nodes"; playbook playbooks/local.yml
    echo "demo: deploying (site.yml)"; playbook playbooks/site.yml
    echo "demo: smoke benchmark (k6 role)"; playbook playbooks/benchmark.yml -e k6_preset=smoke
    report=$(ls -td results/local/smoke/*/ 2>/dev/null | head -n 1)
    # The agent analyses the demo's own run: the metrics of the benchmark just made, the journal
    # of the database host and the newest benchmark results (copied to it by the role).
    echo "demo: the AI operations agent (its role again, to pick up the new results)"
    playbook playbooks/site.yml --tags agent
    echo "demo: one analysis by the agent"; playbook playbooks/analyze.yml
    analysis=$(ls -t results/local/agent/*.md 2>/dev/null | head -n 1)
    cat <<MSG

demo: done in $((SECONDS - start)) s
  IoT API (nginx on dsa-local-app)  http://127.0.0.1:8080/api/v1/openapi.json   (readiness: /readyz)
  API keys for the demo              $INVENTORY/.credentials/ (mode 0600, git-ignored)
  Prometheus (on dsa-local-db)       http://127.0.0.1:9090/targets
  Benchmark report                   ${report:-results/local/smoke/}report.html
  Agent report on this run           ${analysis:-results/local/agent/}
  Agent UI (Streamlit, via nginx)    http://127.0.0.1:8091/    (key in $INVENTORY/.credentials/)
  Remove everything                  make demo-down
MSG
    ;;
  down)
    eval "$(bash scripts/testhost.sh env)"
    playbook playbooks/local.yml -e local_state=absent
    rm -rf "$INVENTORY/.credentials"
    echo "demo: removed the local nodes, their network and the generated credentials"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
