#!/usr/bin/env bash
# The main job: a lab node with three workloads, policy enforced by the agent, a staged policy
# previewed and promoted, then audit mode switched on with the user's own calicoctl runbook
# (tortie in its place), the calico-drop lines shown as syslog records them, and the audit
# report over what was recorded, with the policy recommended for it. Pass --keep to leave the
# lab running.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bash scripts/setup.sh
export PATH="$repo/.venv/bin:$PATH"
keep=no; [ "${1:-}" = "--keep" ] && keep=yes
work=$(mktemp -d)
export TORTIE_DATASTORE="sqlite://$work/tortie.db" TORTIE_LAB_DIR="$work/lab"
sysctl -qw net.netfilter.nf_log_all_netns=1

# syslog as on a real node: rsyslog with tortie's snippet from deploy/.
mkdir -p /var/log/tortie "$work/rsyslog"
touch /var/log/tortie/calico-drop.log
log_start=$(stat -c %s /var/log/tortie/calico-drop.log)
cat > "$work/rsyslog/rsyslog.conf" <<CONF
module(load="imklog")
global(workDirectory="$work/rsyslog")
\$IncludeConfig $repo/deploy/rsyslog/30-tortie.conf
CONF
rsyslogd -f "$work/rsyslog/rsyslog.conf" -i "$work/rsyslog/pid"

finish() {
    [ -f "$work/rsyslog/pid" ] && kill "$(cat "$work/rsyslog/pid")" 2>/dev/null || true
    if [ "$keep" = yes ]; then
        echo; echo "The lab is still up (TORTIE_DATASTORE=$TORTIE_DATASTORE TORTIE_LAB_DIR=$TORTIE_LAB_DIR)."
        echo "Remove it with: TORTIE_LAB_DIR=$TORTIE_LAB_DIR tortie lab down"
    else
        tortie lab down >/dev/null || true
        rm -rf "$work"
    fi
}
trap finish EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
cd "$work"

step "tortie lab up -f examples/lab.yaml"
tortie lab up -f "$repo/examples/lab.yaml"
# The drop log is the machine's (other labs and tests log there too, and a new rsyslogd
# replays the kernel's ring buffer): this demo's lines are its own workloads' packets, known
# by the MAC addresses the kernel gave their interfaces in this run (LOG's MAC=dst:src:type).
macs=$(for w in frontend backend database; do tortie lab exec "$w" cat /sys/class/net/eth0/address; done |
    paste -sd'|')
own_lines() { tail -c +"$((log_start + 1))" /var/log/tortie/calico-drop.log | grep -E "MAC=[^ ]*($macs)" || true; }
step "tortie apply -f examples/policies.yaml      # only the backend may reach the database"
tortie apply -f "$repo/examples/policies.yaml"
tortie lab wait >/dev/null
step "tortie lab probe backend database:5432"
tortie lab probe backend database:5432
step "tortie lab probe frontend database:5432"
tortie lab probe frontend database:5432

echo; echo "# One policy at a time: stage a tightening policy, see what it would deny, then promote it."
flows="$work/flowlogs"
step "tortie patch felixconfig default -p '{\"spec\":{\"flowLogsFileEnabled\":true,...}}'   # flow logs with policies"
tortie patch felixconfig default -p "{\"spec\":{\"flowLogsFileEnabled\":true,\"flowLogsFileDirectory\":\"$flows\",
  \"flowLogsFlushInterval\":\"1s\",\"flowLogsFileIncludePolicies\":true}}"
step "tortie apply -f examples/staged.yaml        # only the frontend may reach the backend: staged"
tortie apply -f "$repo/examples/staged.yaml"
tortie lab wait >/dev/null
step "tortie lab probe database backend:9000      # enforced: allowed; pending: denied"
tortie lab probe database backend:9000
step "grep '\"dest_port\":9000' $flows/flows.log   # the flow log: enforced allow, pending deny"
for _ in $(seq 100); do grep -q '"dest_port":9000' "$flows/flows.log" 2>/dev/null && break; sleep 0.1; done
grep '"dest_port":9000' "$flows/flows.log" | grep '"reporter":"dst"' | tail -n 1
step "tortie explain --node node-a --src 198.18.20.30:40000 --dst 198.18.10.20:9000 --proto TCP"
tortie explain --node node-a --src 198.18.20.30:40000 --dst 198.18.10.20:9000 --proto TCP
step "tortie promote sgnp backend-access --dry-run"
tortie promote sgnp backend-access --dry-run
step "tortie promote sgnp backend-access"
tortie promote sgnp backend-access
tortie lab wait >/dev/null
step "tortie lab probe database backend:9000      # now enforced: denied"
tortie lab probe database backend:9000
step "tortie lab probe frontend backend:9000      # the frontend still gets through"
tortie lab probe frontend backend:9000

cat > node-node-a.yaml <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: node.node-a
spec:
  defaultEndpointToHostAction: Return
YAML
step "tortie create -f node-node-a.yaml       # the node's own configuration, as on the seed's node"
tortie create -f node-node-a.yaml

echo; echo "# Audit mode with the seed's own commands:"
step "tortie get felixconfig node.node-a -o yaml | tee node-node-a-felixconfig.yaml"
tortie get felixconfig node.node-a -o yaml | tee node-node-a-felixconfig.yaml
cat > node-node-a-felixconfig.yaml <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: node.node-a
spec:
  defaultEndpointToHostAction: Return
  dropActionOverride: LogAndDrop
YAML
step "cat node-node-a-felixconfig.yaml | tortie replace -f -     # after adding dropActionOverride: LogAndDrop"
cat node-node-a-felixconfig.yaml | tortie replace -f -
tortie lab wait >/dev/null
step "tortie lab probe frontend database:5432     # still dropped, now logged"
tortie lab probe frontend database:5432
sleep 1
step "grep -E 'MAC=[^ ]*(<this lab's workloads>)' /var/log/tortie/calico-drop.log   # as rsyslog recorded it"
own_lines

audit_start=$(date +%s)   # the audit window starts here
step "tortie patch felixconfig default -p '{\"spec\":{\"flowLogsFileAggregationKindForAllowed\":0,...}}'   # flow logs per flow"
tortie patch felixconfig default -p '{"spec":{"flowLogsFileAggregationKindForAllowed":0,
  "flowLogsFileAggregationKindForDenied":0}}'
step "tortie patch felixconfig node.node-a -p '{\"spec\":{\"dropActionOverride\":\"LogAndAccept\"}}'"
tortie patch felixconfig node.node-a -p '{"spec":{"dropActionOverride":"LogAndAccept"}}'
tortie lab wait >/dev/null
logged=$(own_lines | grep -c 'DPT=5432' || true)
step "tortie lab probe frontend database:5432     # audit mode: let through, still logged"
tortie lab probe frontend database:5432
step "tortie lab probe backend database:5432      # allowed: in the flow log only"
tortie lab probe backend database:5432
step "tortie explain --node node-a --src 198.18.10.10:40000 --dst 198.18.20.30:5432 --proto TCP"
tortie explain --node node-a --src 198.18.10.10:40000 --dst 198.18.20.30:5432 --proto TCP

echo; echo "# The report: what enforcing would block, and the policy that would allow what was seen."
drops=calico-drop.log   # this demo's lines of /var/log/tortie/calico-drop.log
recorded=("$flows/flows.log" "$drops")
for _ in $(seq 100); do
    [ "$(own_lines | grep -c 'DPT=5432' || true)" -gt "$logged" ] &&
        grep -q '"source_ip":"198.18.10.20".*"dest_port":5432' "$flows/flows.log" && break
    sleep 0.1
done
own_lines > "$drops"
step "tortie audit report --replay --node node-a --since $audit_start $drops"
tortie audit report --replay --node node-a --since "$audit_start" "$drops"
step "tortie recommend -n data --since $audit_start flowlogs/flows.log $drops | tee recommended.yaml"
tortie recommend -n data --since "$audit_start" "${recorded[@]}" | tee recommended.yaml
step "tortie validate -f recommended.yaml"
tortie validate -f recommended.yaml
step "tortie apply -f recommended.yaml            # staged: the kernel still enforces database-access"
tortie apply -f recommended.yaml
step "tortie audit replay --since $audit_start flowlogs/flows.log $drops   # against the staged policies"
tortie audit replay --since "$audit_start" "${recorded[@]}"
