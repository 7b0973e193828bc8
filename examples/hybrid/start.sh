#!/usr/bin/env bash
# start.sh — run the hybrid lab in the foreground (SPEC §8; see README.md):
#   dnsmasq          127.0.40.1:5353   the lab DNS (dnsmasq.conf)
#   cloud            127.0.10.1:2525 (mx), :2587 (submission)   cloud.yaml, or cloud-cmt.yaml with CMT=1
#   onprem           127.0.20.1:2525 (mx), :2587 (submission)   onprem.yaml
#   internet         127.0.30.1:2525   mx.fabrikam.com, a sink that prints and saves what it gets
# Every line of output is prefixed with the name of the process that wrote it. Ctrl-C stops them all.
#
# Environment: CMT=1 (centralized mail transport on the cloud side), MAILFLOW=/path/to/mailflow (else
# build/src/cli/mailflow of this repository, else `mailflow` on PATH), DNSMASQ=/path/to/dnsmasq,
# LOG_LEVEL=debug|info|... (mailflow serve --log-level). Linux: every 127.x.y.z is a loopback address.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

mailflow=${MAILFLOW:-}
if [[ -z $mailflow ]]; then
  for candidate in "$here/../../build/src/cli/mailflow" "$(command -v mailflow || true)"; do
    if [[ -n $candidate && -x $candidate ]]; then mailflow=$candidate; break; fi
  done
fi
if [[ -z $mailflow || ! -x $mailflow ]]; then
  echo "start.sh: no mailflow binary: build it (cmake -S . -B build -G Ninja && ninja -C build) or set MAILFLOW=" >&2
  exit 1
fi
dnsmasq=${DNSMASQ:-$(command -v dnsmasq || echo /usr/sbin/dnsmasq)}
if [[ ! -x $dnsmasq ]]; then
  echo "start.sh: dnsmasq not found (Debian/Ubuntu: apt-get install dnsmasq-base) or set DNSMASQ=" >&2
  exit 1
fi

cloud_config=cloud.yaml
[[ ${CMT:-0} == 1 ]] && cloud_config=cloud-cmt.yaml

if [[ ! -f certs/ca.pem || ! -f certs/cloud.pem || ! -f certs/onprem.pem ]]; then
  ./make-certs.sh certs
fi
mkdir -p var
for side in cloud onprem; do
  token=var/$side-admin.token
  if [[ ! -s $token ]]; then
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$token")
  fi
done

for config in "$cloud_config" onprem.yaml; do
  if ! "$mailflow" check --config "$config" >/dev/null; then
    "$mailflow" check --config "$config" >&2 || true
    exit 1
  fi
done

pids=()
stopping=0
stop_all() {
  ((stopping)) && return
  stopping=1
  trap - INT TERM
  echo "[lab]      stopping..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

# run NAME COMMAND...: start COMMAND in the background, its output prefixed with [NAME].
run() {
  local name=$1
  shift
  local prefix
  prefix=$(printf '[%-8s] ' "$name")
  "$@" > >(sed -u "s/^/$prefix/") 2>&1 &
  pids+=($!)
}

dnsmasq_user=()
[[ $(id -u) == 0 ]] && dnsmasq_user=(--user=root --group=root)
run dns "$dnsmasq" --no-daemon "${dnsmasq_user[@]}" --conf-file="$here/dnsmasq.conf"
run internet python3 -u "$here/internet-sink.py" --listen 127.0.30.1:2525
run cloud "$mailflow" serve --config "$here/$cloud_config" --log-level "${LOG_LEVEL:-info}"
run onprem "$mailflow" serve --config "$here/onprem.yaml" --log-level "${LOG_LEVEL:-info}"

echo "[lab]      cloud: $cloud_config (CMT $([[ $cloud_config == cloud-cmt.yaml ]] && echo on || echo off)); mailboxes under var/cloud/mailboxes and var/onprem/mailboxes; internet mail in var/internet. Ctrl-C stops." >&2

# Stop everything as soon as one of them ends (a failed start, or Ctrl-C).
wait -n "${pids[@]}" || true
stop_all
