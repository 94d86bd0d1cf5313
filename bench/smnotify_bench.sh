#!/usr/bin/env bash
# bench/smnotify_bench.sh: the sm-notify benchmark (project issue 3): nsm's sm-notify and
# nfs-utils' side by side, notifying the same list of N peers that all answer, and the same
# N plus black-hole peers that never answer anything. Writes bench/SMNOTIFY.md (+ .jsonl).
#
# Everything runs in one private pid+network+mount namespace: lo up, tmpfs on /run, own
# /etc/hosts, nsswitch "hosts: files dns", resolv.conf -> 127.0.0.53 (nothing listens), an
# empty /etc/nfs.conf; no rpcbind. The peers are bench/fake_peers.cc (built here with
# g++ -O2): wildcard binds on 0.0.0.0:111 and 0.0.0.0:SM_PORT, UDP and TCP, answer for
# every local address. Peer k is 198.18.(k/250).(k%250+1), made local by
# `ip route add local 198.18.0.0/16 dev lo`; the black-hole peers, spread evenly among the
# live ones (in creation order and in name order alike), get /32 routes to a tun device
# (bh0) that no process reads: their packets are silently dropped (UDP sends succeed, TCP
# SYNs time out), as for a host that is down. bh0 carries the namespace's only
# non-loopback IPv4 address (10.255.0.1), which getaddrinfo's AI_ADDRCONFIG needs.
# Each run gets a fresh state directory on a tmpfs (owned by statd, as both drop to the
# owner of sm/) with nfs-utils' legacy sm/ files (fake_peers gen: one file per peer, named
# by its address, mon_name = the address, my_name "bench-client"); both implementations
# read it (nsm read-only in legacy mode), and are run as `sm-notify -d -f -m MIN -P DIR`.
# Measured by fake_peers: time from just before the fork of sm-notify until every live
# peer had received an SM_NOTIFY (first arrival per address), the run time (until
# sm-notify exited), call counts, and the namespace's /proc/net/snmp Udp counters
# (InErrors, RcvbufErrors, ...) before and after; these count every socket of the
# namespace, sm-notify's and the fake peer's.
#
# Usage: bench/smnotify_bench.sh [RELEASE_DIR]   (default build-release; nsm is skipped if
#        RELEASE_DIR/sm-notify does not exist. Build it with
#        cmake -S . -B build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSM_TESTS=OFF &&
#        cmake --build build-release --target sm-notify)
# Environment:
#   BENCH_QUICK=1          one run per cell (default: SMNOTIFY_REPEAT runs, median shown)
#   SMNOTIFY_REPEAT        runs per cell without BENCH_QUICK (default 3)
#   SMNOTIFY_SIZES         live peers N (default "1000 10000")
#   SMNOTIFY_BLACKHOLE_PCT black-hole peers added to the N live ones in the second scenario,
#                          in percent of N (default 10: 10,000 live + 1,000 black holes)
#   SMNOTIFY_RETRY_MIN     sm-notify -m (default 1; bounds the black-hole runs, and
#                          nfs-utils' runs with lost replies)
#   SMNOTIFY_IMPLS         implementations (default "nfs-utils nsm")
#   SMNOTIFY_NFSUTILS      nfs-utils' sm-notify (default /usr/sbin/sm-notify)
#   SMNOTIFY_OUT           report (default bench/SMNOTIFY.md; JSON lines beside it)
#   SMNOTIFY_KEEP_LOGS     existing directory to copy the sm-notify logs into (with, per
#                          run, NAME.times: each live peer's first SM_NOTIFY, ms, sorted)
#   SMNOTIFY_STOP_AFTER_LIVE  ms: stop sm-notify (SIGTERM) this long after every live peer
#                          was notified, so that repeated black-hole runs do not last -m
#                          minutes each (their run time then says nothing; default: off)
#   SMNOTIFY_SETTLE        seconds of idle before every run (default 1), so that each starts
#                          from the same state: a run stopped SMNOTIFY_STOP_AFTER_LIVE ms
#                          after its last live peer idles meanwhile, and the run after it
#                          started on a colder CPU (+5 ms on a 20 ms run, measured)
# Everything started here (sm-notify, fake_peers, the load sampler, the namespaces, the
# temp dir under /var/tmp) is removed on exit, including on Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SM_PORT=40024

# ---------------------------------------------------------------------------------------
# Inner part: pid 1 of the private namespaces; $WORK was prepared by the outer part.
# ---------------------------------------------------------------------------------------
if [[ "${1:-}" == "--inner" ]]; then
  WORK=$2
  FAKE=$WORK/fake_peers
  RESULTS=$WORK/results.jsonl
  STATD_GROUP=$(id -gn statd)
  note() { echo "[smnotify-bench $(date +%T)] $*" >&2; }
  record() { echo "$1" >>"$RESULTS"; }

  ip link set lo up
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -p "$WORK/etc/nfs.conf.d" "$WORK/logs" "$WORK/state"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t%s\n' \
    "$(hostname)" >"$WORK/etc/hosts"
  printf 'nameserver 127.0.0.53\noptions attempts:1 timeout:1\n' >"$WORK/etc/resolv.conf"
  printf 'hosts: files dns\n' >"$WORK/etc/nsswitch.conf"
  : >"$WORK/etc/nfs.conf"
  for f in hosts resolv.conf nsswitch.conf nfs.conf nfs.conf.d; do
    mount --bind "$WORK/etc/$f" "/etc/$f"
  done
  mount -t tmpfs -o mode=0755 tmpfs "$WORK/state"
  mount -t sysfs sysfs /sys  # this namespace's network devices
  ip route add local 198.18.0.0/16 dev lo
  ip tuntap add dev bh0 mode tun
  ip link set bh0 up
  ip addr add 10.255.0.1/32 dev bh0
  bh_dropped() { cat /sys/class/net/bh0/statistics/tx_dropped; }
  record "{\"meta\":true,\"rmem_default\":$(cat /proc/sys/net/core/rmem_default),\"rmem_max\":$(cat /proc/sys/net/core/rmem_max),\"sm_port\":$SM_PORT,\"stop_after_live\":$STOP_AFTER_LIVE,\"settle_s\":$SETTLE}"

  impl_bin() {
    case $1 in
      nfs-utils) echo "$NFSUTILS_SMNOTIFY" ;;
      nsm) echo "$NSM_SMNOTIFY" ;;
    esac
  }
  impls=()
  for impl in $IMPLS; do
    if [[ -x $(impl_bin "$impl") ]]; then
      impls+=("$impl")
    else
      note "skipping $impl: $(impl_bin "$impl") not found"
      record "{\"impl\":\"$impl\",\"skipped\":\"$(impl_bin "$impl") not found\"}"
    fi
  done

  # one IMPL SCENARIO N_LIVE N_BLACKHOLE REP
  one() {
    local impl=$1 scenario=$2 live=$3 bh=$4 rep=$5 dir log json bh0 load left_sm left_bak
    dir=$WORK/state/$impl-$scenario-$live-$rep
    log=$WORK/logs/$impl-$scenario-$live-$rep.log
    mkdir -p "$dir/sm" "$dir/sm.bak"
    "$FAKE" gen --dir "$dir/sm" --live "$live" --blackholes "$bh" --routes "$WORK/routes" \
      >/dev/null
    chown -R "statd:$STATD_GROUP" "$dir"
    [[ -s $WORK/routes ]] && ip -batch "$WORK/routes"
    note "$impl $scenario: $live live + $bh black-hole peers (run $rep), -m $RETRY_MIN"
    sleep "$SETTLE"
    load=$(cut -d' ' -f1 /proc/loadavg)
    bh0=$(bh_dropped)
    json=$("$FAKE" serve --sm-port "$SM_PORT" --live "$live" --blackholes "$bh" --log "$log" \
      --timeout $((RETRY_MIN > 0 ? RETRY_MIN * 60 + 180 : 3600)) \
      --stop-after-live "$STOP_AFTER_LIVE" --times "${log%.log}.times" -- \
      "$(impl_bin "$impl")" -d -f -m "$RETRY_MIN" -P "$dir") || json='{"error":"fake_peers failed"}'
    ip route flush table local proto 99
    left_sm=$(find "$dir/sm" -mindepth 1 -maxdepth 1 | wc -l)
    left_bak=$(find "$dir/sm.bak" -mindepth 1 -maxdepth 1 | wc -l)
    record "{\"impl\":\"$impl\",\"scenario\":\"$scenario\",\"n_live\":$live,\"n_blackhole\":$bh,\"rep\":$rep,\"retry_min\":$RETRY_MIN,\"loadavg1_start\":$load,\"loadavg1_end\":$(cut -d' ' -f1 /proc/loadavg),\"bh0_tx_dropped\":$(($(bh_dropped) - bh0)),\"files_left_sm\":$left_sm,\"files_left_sm_bak\":$left_bak,\"log_lines\":$(wc -l <"$log"),${json#\{}"
    note "  -> $json"
    rm -rf "$dir"
  }

  for rep in $(seq "$REPEAT"); do
    for n in $SIZES; do
      for impl in "${impls[@]}"; do one "$impl" live "$n" 0 "$rep"; done
      for impl in "${impls[@]}"; do
        one "$impl" blackhole "$n" $((n * BLACKHOLE_PCT / 100)) "$rep"
      done
    done
  done
  [[ -n "$KEEP_LOGS" ]] && cp -r "$WORK/logs/." "$KEEP_LOGS/"
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Outer part: build, prepare, run the inner part in its namespaces, write the report.
# ---------------------------------------------------------------------------------------
RELEASE=${1:-build-release}
[[ "$RELEASE" = /* ]] || RELEASE=$ROOT/$RELEASE
[[ $(id -u) == 0 ]] || { echo "smnotify_bench.sh: needs root (namespaces)" >&2; exit 1; }
for c in unshare ip g++ python3 find; do
  command -v "$c" >/dev/null || { echo "smnotify_bench.sh: missing $c" >&2; exit 1; }
done
id statd >/dev/null 2>&1 || { echo "smnotify_bench.sh: user statd missing (nfs-common)" >&2; exit 1; }
[[ -c /dev/net/tun ]] || { echo "smnotify_bench.sh: /dev/net/tun missing" >&2; exit 1; }

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  export REPEAT=1
else
  export REPEAT=${SMNOTIFY_REPEAT:-3}
fi
export SIZES=${SMNOTIFY_SIZES:-1000 10000}
export BLACKHOLE_PCT=${SMNOTIFY_BLACKHOLE_PCT:-10}
export RETRY_MIN=${SMNOTIFY_RETRY_MIN:-1}
export IMPLS=${SMNOTIFY_IMPLS:-nfs-utils nsm}
export NFSUTILS_SMNOTIFY=${SMNOTIFY_NFSUTILS:-/usr/sbin/sm-notify}
export NSM_SMNOTIFY=$RELEASE/sm-notify
export KEEP_LOGS=${SMNOTIFY_KEEP_LOGS:-}
export STOP_AFTER_LIVE=${SMNOTIFY_STOP_AFTER_LIVE:--1}
export SETTLE=${SMNOTIFY_SETTLE:-1}
export SM_PORT
OUT=${SMNOTIFY_OUT:-$HERE/SMNOTIFY.md}

WORK=$(mktemp -d /var/tmp/nsm-smnotify-bench.XXXXXX)
chmod 0755 "$WORK"  # sm-notify runs as statd below it
NSPID="" SAMPLER=""
cleanup() {
  local rc=$? init="" p
  trap - EXIT INT TERM
  [[ -n "$SAMPLER" ]] && { kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true; }
  if [[ -n "$NSPID" ]]; then
    # unshare ignores SIGINT/SIGTERM while it waits: SIGKILL the namespace's init (its
    # child), which takes every process of the pid namespace with it, then unshare.
    init=$(cat "/proc/$NSPID/task/$NSPID/children" 2>/dev/null || true)
    for p in $init; do kill -KILL "$p" 2>/dev/null || true; done
    kill -KILL "$NSPID" 2>/dev/null || true
    wait "$NSPID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "[smnotify-bench] interrupted" >&2; exit 130' INT TERM

g++ -O2 -std=c++20 -pthread -Wall -Wextra -o "$WORK/fake_peers" "$HERE/fake_peers.cc"

command_line="./bench/smnotify_bench.sh $*"
for v in BENCH_QUICK SMNOTIFY_REPEAT SMNOTIFY_SIZES SMNOTIFY_BLACKHOLE_PCT SMNOTIFY_RETRY_MIN \
  SMNOTIFY_IMPLS SMNOTIFY_NFSUTILS SMNOTIFY_STOP_AFTER_LIVE SMNOTIFY_SETTLE; do
  [[ -n "${!v:-}" ]] && command_line="$v=${!v} $command_line"
done
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
head=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt 2>/dev/null | wc -l)

# Machine load while the benchmark runs (other work shares the CPUs): every 2 s, the
# 1-minute load average and the number of compiler/linker processes on the machine.
(
  while :; do
    c=0
    for f in /proc/[0-9]*/comm; do
      case $(cat "$f" 2>/dev/null) in cc1plus | cc1 | ld | ld.gold | ld.lld | clang* | lto1) c=$((c + 1)) ;; esac
    done
    echo "$(cut -d' ' -f1 /proc/loadavg) $c" >>"$WORK/load.txt"
    sleep 2
  done
) &
SAMPLER=$!

unshare --pid --fork --kill-child --mount-proc --net --mount --propagation private \
  "$HERE/smnotify_bench.sh" --inner "$WORK" &
NSPID=$!
wait "$NSPID"
NSPID=""
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=""

nsm_desc="not built: $NSM_SMNOTIFY"
if [[ -x $NSM_SMNOTIFY ]]; then
  nsm_desc="$NSM_SMNOTIFY (binary of $(date -u -r "$NSM_SMNOTIFY" +%Y-%m-%dT%H:%M:%SZ); the tree was at $head"
  [[ $dirty != 0 ]] && nsm_desc+=" with $dirty uncommitted changes under src/ or CMakeLists.txt when the benchmark started"
  nsm_desc+=")"
fi
cp "$WORK/results.jsonl" "${OUT%.md}.jsonl"
python3 "$HERE/smnotify_report.py" "$WORK/results.jsonl" --load "$WORK/load.txt" \
  --command "$command_line" --started "$started" --finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --nfs-utils "$NFSUTILS_SMNOTIFY ($(dpkg-query -W -f '${Package} ${Version}' nfs-common 2>/dev/null || echo '?'))" \
  --nsm "$nsm_desc" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "[smnotify-bench] wrote $OUT and ${OUT%.md}.jsonl" >&2
