#!/usr/bin/env bash
# The main job until the agent exists: installs tortie, then runs the user's audit-mode
# runbook (calicoctl's, with tortie in its place) against a fresh embedded datastore.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TORTIE_DATASTORE="sqlite://$work/tortie.db"
cd "$work"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "tortie get felixconfigs            # a new store starts like a new Calico cluster"
tortie get felixconfigs
cat > node-myhost.yaml <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: node.myhost
spec:
  defaultEndpointToHostAction: Return
YAML
step "tortie create -f node-myhost.yaml"
tortie create -f node-myhost.yaml

step "tortie get felixconfig node.myhost -o yaml | tee node-myhost-felixconfig.yaml"
tortie get felixconfig node.myhost -o yaml | tee node-myhost-felixconfig.yaml

cat > node-myhost-felixconfig.yaml <<'YAML'
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: node.myhost
spec:
  defaultEndpointToHostAction: Return
  dropActionOverride: LogAndDrop
YAML
step "cat node-myhost-felixconfig.yaml | tortie replace -f -     # after adding dropActionOverride"
cat node-myhost-felixconfig.yaml | tortie replace -f -

step "tortie get felixconfig node.myhost -o yaml > saved.yaml"
tortie get felixconfig node.myhost -o yaml > saved.yaml
step "tortie patch felixconfig node.myhost -p '{\"spec\":{\"logDropActionOverride\":true}}'"
tortie patch felixconfig node.myhost -p '{"spec":{"logDropActionOverride":true}}'
step "tortie replace -f saved.yaml        # saved.yaml is now stale"
tortie replace -f saved.yaml || echo "(exit status $?: the stale write was refused)"

step "tortie patch felixconfig default -p '{\"spec\":{\"dropActionOverride\":\"LogAndAccept\"}}'"
tortie patch felixconfig default -p '{"spec":{"dropActionOverride":"LogAndAccept"}}'
step "tortie get felixconfigs -o custom-columns=NAME"
tortie get felixconfigs -o custom-columns=NAME

cat > policy.yaml <<'YAML'
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-ssh
spec:
  selector: role == "db"
  ingress:
  - action: Deny
    protocol: tcp
    destination:
      ports: [22]
YAML
step "tortie apply -f policy.yaml         # a typo is caught before anything is written"
tortie apply -f policy.yaml || true
sed -i 's/protocol: tcp/protocol: TCP/' policy.yaml
step "tortie apply -f policy.yaml"
tortie apply -f policy.yaml
step "tortie get gnp -o wide"
tortie get gnp -o wide
