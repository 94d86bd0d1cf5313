#!/usr/bin/env bash
# bench/dns_outage.sh: the DNS-outage benchmark (project issue 4). Runs the same scenario
# against nfs-utils' rpc.statd and nsm's, one after the other, in one private
# pid+network+mount namespace (loopback only, tmpfs /run, own rpcbind, own /etc/hosts,
# nsswitch "hosts: files dns", resolv.conf -> 127.0.0.53 where bench/dns_outage_probe.py
# runs a blackhole DNS listener), and writes bench/DNS_OUTAGE.md: the listener's NULL
# latency (p50/p99/max) while an SM_NOTIFY and an SM_MON of unresolvable names are
# pending, side by side, with the ratio. Nothing can reach the machine's real DNS.
#
# Usage: bench/dns_outage.sh [RELEASE_DIR]   (default build-release; nsm is skipped if
#        RELEASE_DIR/rpc.statd does not exist. Build it with
#        cmake -S . -B build-release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNSM_TESTS=OFF &&
#        cmake --build build-release --target rpc.statd)
# Environment:
#   DNS_OUTAGE_SECONDS   length of the outage scenario after the triggers (default 90;
#                        nfs-utils stalls ~60-70 s per unresolvable lookup)
#   DNS_OUTAGE_INTERVAL  seconds between NULL probes (default 0.1)
#   DNS_OUTAGE_IMPLS     implementations to run (default "nfs-utils nsm")
#   DNS_OUTAGE_NFSUTILS  nfs-utils daemon (default /usr/sbin/rpc.statd)
#   DNS_OUTAGE_OUT       report path (default bench/DNS_OUTAGE.md; raw JSON lines beside
#                        it, bench/DNS_OUTAGE.jsonl)
# Everything started here (daemons, rpcbind, the DNS listener, the namespaces, the temp
# dir under /var/tmp) is removed on exit, including on Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PROBE=$HERE/dns_outage_probe.py

# ---------------------------------------------------------------------------------------
# Inner part: pid 1 of the private namespaces; $WORK was prepared by the outer part.
# ---------------------------------------------------------------------------------------
if [[ "${1:-}" == "--inner" ]]; then
  WORK=$2
  RESULTS=$WORK/results.jsonl
  PORT=32800
  STATD_GROUP=$(id -gn statd)
  note() { echo "[dns-outage $(date +%T)] $*" >&2; }

  ip link set lo up
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -p /run/rpcbind /run/lock "$WORK/etc/nfs.conf.d"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t%s\n' \
    "$(hostname)" >"$WORK/etc/hosts"
  # glibc's defaults (timeout:5 attempts:2), as on a machine whose only DNS server hangs.
  printf 'nameserver 127.0.0.53\n' >"$WORK/etc/resolv.conf"
  printf 'passwd: files\ngroup: files\nhosts: files dns\nrpc: files\nservices: files\n' \
    >"$WORK/etc/nsswitch.conf"
  : >"$WORK/etc/nfs.conf"
  chmod 0644 "$WORK"/etc/*
  for f in hosts resolv.conf nsswitch.conf nfs.conf nfs.conf.d; do
    target=/etc/$f
    [[ -L $target ]] && target=$(readlink -f "$target")
    if [[ ! -e $target ]]; then
      case $target in /run/*) mkdir -p "$(dirname "$target")"; cp -r "$WORK/etc/$f" "$target" ;; esac
      continue
    fi
    mount --bind "$WORK/etc/$f" "$target"
  done
  # Belt and braces: this namespace has only lo, so no resolver outside can be reached.
  [[ $(ip -o link show | grep -vc ': lo:') == 0 ]] || { note "unexpected interfaces"; exit 1; }

  rpcbind -f -w &
  for _ in $(seq 200); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.05; done
  rpcinfo -p 127.0.0.1 >/dev/null || { note "rpcbind did not start"; exit 1; }

  for impl in $IMPLS; do
    case $impl in
      nfs-utils) bin=$NFSUTILS_STATD ;;
      nsm) bin=$NSM_STATD ;;
      *) note "unknown implementation $impl"; continue ;;
    esac
    if [[ ! -x $bin ]]; then
      note "skipping $impl: $bin not found"
      echo "{\"impl\":\"$impl\",\"statd\":\"$bin\",\"error\":\"not built: $bin\"}" >>"$RESULTS"
      continue
    fi
    # Fresh state directory, sm/ and sm.bak/ owned by statd. The directory itself is
    # given to statd too: nsm's rpc.statd creates DIR/nsm.db after dropping to that user.
    dir=$WORK/state/$impl
    mkdir -p "$dir/sm" "$dir/sm.bak"
    chown -R "statd:$STATD_GROUP" "$dir"
    PORT=$((PORT + 1))
    note "$impl: $SECONDS_RUN s outage scenario on port $PORT"
    python3 "$PROBE" run --impl "$impl" --statd "$bin" --dir "$dir" --port "$PORT" \
      --seconds "$SECONDS_RUN" --interval "$INTERVAL" --log "$WORK/logs/$impl.log" \
      >>"$RESULTS" || echo "{\"impl\":\"$impl\",\"error\":\"probe failed\"}" >>"$RESULTS"
    rpcinfo -d 100024 1 >/dev/null 2>&1 || true  # a killed statd leaves its registration
    note "$impl: done"
  done
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Outer part: prepare, run the inner part in its namespaces, write the report.
# ---------------------------------------------------------------------------------------
RELEASE=${1:-build-release}
[[ "$RELEASE" = /* ]] || RELEASE=$ROOT/$RELEASE
[[ $(id -u) == 0 ]] || { echo "bench/dns_outage.sh: needs root (namespaces, rpcbind)" >&2; exit 1; }
for c in unshare ip rpcbind rpcinfo python3 mount; do
  command -v "$c" >/dev/null || { echo "bench/dns_outage.sh: missing $c" >&2; exit 1; }
done
id statd >/dev/null 2>&1 || { echo "bench/dns_outage.sh: user statd missing (nfs-common)" >&2; exit 1; }

export SECONDS_RUN=${DNS_OUTAGE_SECONDS:-90}
export INTERVAL=${DNS_OUTAGE_INTERVAL:-0.1}
export IMPLS=${DNS_OUTAGE_IMPLS:-nfs-utils nsm}
export NFSUTILS_STATD=${DNS_OUTAGE_NFSUTILS:-/usr/sbin/rpc.statd}
export NSM_STATD=$RELEASE/rpc.statd
OUT=${DNS_OUTAGE_OUT:-$HERE/DNS_OUTAGE.md}

WORK=$(mktemp -d /var/tmp/nsm-dns-outage.XXXXXX)
chmod 0755 "$WORK"  # the daemons run as statd below it
mkdir -p "$WORK/logs" "$WORK/state" "$WORK/etc"
NSPID=""
cleanup() {
  local rc=$? init="" p
  trap - EXIT INT TERM
  if [[ -n "$NSPID" ]]; then
    # unshare ignores SIGINT/SIGTERM while it waits: SIGKILL the namespace's init (its
    # child), which takes every process of the pid namespace with it, then unshare.
    init=$(cat "/proc/$NSPID/task/$NSPID/children" 2>/dev/null || true)
    for p in $init; do kill -KILL "$p" 2>/dev/null || true; done
    kill -KILL "$NSPID" 2>/dev/null || true
    wait "$NSPID" 2>/dev/null || true
  fi
  if [[ "${DNS_OUTAGE_KEEP:-0}" == 1 ]]; then
    echo "[dns-outage] kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "[dns-outage] interrupted" >&2; exit 130' INT TERM

command_line="./bench/dns_outage.sh $*"
for v in DNS_OUTAGE_SECONDS DNS_OUTAGE_INTERVAL DNS_OUTAGE_IMPLS DNS_OUTAGE_NFSUTILS; do
  [[ -n "${!v:-}" ]] && command_line="$v=${!v} $command_line"
done
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

unshare --pid --fork --kill-child --mount-proc --net --mount --uts --propagation private \
  "$HERE/dns_outage.sh" --inner "$WORK" &
NSPID=$!
wait "$NSPID"
NSPID=""

cp "$WORK/results.jsonl" "${OUT%.md}.jsonl"
notes=()
notes+=("nfs-utils package: $(dpkg-query -W -f '${Package} ${Version}' nfs-common 2>/dev/null || echo '?')")
if [[ -x $NSM_STATD ]]; then
  notes+=("nsm build: $NSM_STATD ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') + working tree)")
fi
args=()
for n in "${notes[@]}"; do args+=(--note "$n"); done
python3 "$PROBE" report "$WORK/results.jsonl" --command "$command_line" \
  --started "$started" --finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${args[@]}" \
  --notes-file "$HERE/dns_outage_notes.md" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "[dns-outage] wrote $OUT and ${OUT%.md}.jsonl" >&2
