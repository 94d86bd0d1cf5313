#!/bin/bash
# Captures real NSM traffic between nfs-utils tools on loopback, for the fuzz seed
# corpora (see docs/fuzzing.md). Usage: capture.sh OUT.pcapng LEGACY_SM_DIR
# Runs itself again inside a private network + mount namespace (root needed): lo up,
# a tmpfs on /run, its own /etc/hosts and a resolv.conf pointing at an unused loopback
# port (so nothing can reach real DNS). Starts rpcbind, dumpcap and rpc.statd, runs
# rpcinfo, traffic.py (fake lockd + SM calls over UDP and TCP) and sm-notify, then
# SM_SIMU_CRASH; everything started is stopped and the temporary directory removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z ${NSM_SEED_INNER:-} ]]; then
  [[ $# -eq 2 ]] || { echo "usage: $0 OUT.pcapng LEGACY_SM_DIR" >&2; exit 2; }
  out=$(realpath -m "$1"); legacy=$(realpath -m "$2")
  mkdir -p "$legacy" "$(dirname "$out")"
  exec unshare --net --mount env NSM_SEED_INNER=1 "$0" "$out" "$legacy"
fi
out=$1; legacy=$2
work=$(mktemp -d /tmp/nsm-seed.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  if [[ $rc -ne 0 && -f $work/statd.log ]]; then
    echo "capture.sh: failed ($rc); rpc.statd said:" >&2; tail -20 "$work/statd.log" >&2
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip link set lo up
mount -t tmpfs tmpfs /run
mkdir -p /run/rpcbind
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$work/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf

wait_for() {  # wait_for SECONDS COMMAND...
  local t=$1; shift
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "capture.sh: timed out waiting for: $*" >&2; return 1
}

rpcbind -f -w & pids+=($!)
wait_for 10 rpcinfo -p 127.0.0.1
rm -f "$out"
dumpcap -q -i lo -w "$out" 2>"$work/dumpcap.log" & pids+=($!)
wait_for 10 grep -q "Capturing on" "$work/dumpcap.log"
sleep 0.3

mkdir -p "$work/statd/sm" "$work/statd/sm.bak"
/usr/sbin/rpc.statd -F -d -L -P "$work/statd" 2>"$work/statd.log" & statd=$!; pids+=($statd)
wait_for 10 rpcinfo -T udp 127.0.0.1 100024 1
rpcinfo -T tcp 127.0.0.1 100024 1 >/dev/null
rpcinfo -p 127.0.0.1 >/dev/null
/usr/bin/python3 "$here/traffic.py" "$work/statd" "$legacy"

# sm-notify with one peer (this host's statd), in nfs-utils' own sm/ format.
mkdir -p "$work/notify/sm" "$work/notify/sm.bak"
printf '0100007f 000186b5 00000004 00000010 000102030405060708090a0b0c0d0e0f 127.0.0.1 localhost\n' \
  >"$work/notify/sm/127.0.0.1"
timeout 60 /usr/sbin/sm-notify -d -f -m 1 -P "$work/notify" -v 127.0.0.1 2>"$work/sm-notify.log" || {
  echo "capture.sh: sm-notify failed:" >&2; cat "$work/sm-notify.log" >&2; }
sleep 1
/usr/bin/python3 "$here/traffic.py" --simu-crash
sleep 0.5
cp "$work/statd.log" "$(dirname "$out")/statd.log" 2>/dev/null || true
