#!/usr/bin/env bash
# bench/run.sh: the SM_MON benchmark of nsm's rpc.statd against nfs-utils' rpc.statd
# (`make bench` -> ./bench/run.sh RELEASE_BUILD_DIR). Builds bench/smmon_bench.cc, then runs
# every daemon in a private pid+network+mount namespace (loopback only, own /etc/hosts,
# resolv.conf pointing at 127.0.0.53 where nothing listens, nsswitch "hosts: files dns",
# tmpfs on /run, its own rpcbind), and writes bench/RESULTS.md.
#
# Usage: bench/run.sh [RELEASE_DIR]   (default build-release; nsm is skipped if
#        RELEASE_DIR/rpc.statd does not exist)
# Environment:
#   BENCH_QUICK=1        short run: 60 s budget per load run (default 3600 s)
#   BENCH_SIZES          fill sizes N (default "1000 10000")
#   BENCH_CALLERS        concurrent callers of the concurrent scenarios (default 16)
#   BENCH_BUDGET         seconds per load run; a run stops issuing calls after it and
#                        reports what it measured with the N it reached
#   BENCH_PRELOAD        monitors preloaded for the start-up measurement (default 100000)
#   BENCH_STARTS         start-ups measured per daemon (default 3; the median is reported)
#   BENCH_PROBE          SM_MONs of new names sent to the preloaded daemon after its last
#                        start (default 20, quick 5)
#   BENCH_IMPLS          implementations to run (default "nfs-utils nsm")
#   BENCH_NFSUTILS_STATD nfs-utils daemon (default /usr/sbin/rpc.statd)
#   BENCH_OUT            report path (default bench/RESULTS.md; raw JSON lines beside it,
#                        bench/RESULTS.jsonl)
# Everything started here (daemons, rpcbind, namespaces, the temp dir under /var/tmp) is
# removed on exit, including on Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

# ---------------------------------------------------------------------------------------
# Inner part: runs as pid 1 of the private namespaces; $WORK is prepared by the outer part.
# ---------------------------------------------------------------------------------------
if [[ "${1:-}" == "--inner" ]]; then
  WORK=$2
  BENCH=$WORK/smmon_bench
  RESULTS=$WORK/results.jsonl
  PORT=32700
  STATD_GROUP=$(id -gn statd)

  note() { echo "[bench $(date +%T)] $*" >&2; }
  record() { echo "$1" >>"$RESULTS"; }
  field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1" | tr -d '"'; }

  ip link set lo up
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -p /run/rpcbind /run/lock
  mkdir -p "$WORK/etc/nfs.conf.d"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t%s\n' \
    "$(hostname)" >"$WORK/etc/hosts"
  printf 'nameserver 127.0.0.53\noptions attempts:1 timeout:1\n' >"$WORK/etc/resolv.conf"
  printf 'hosts: files dns\n' >"$WORK/etc/nsswitch.conf"
  : >"$WORK/etc/nfs.conf"
  for f in hosts resolv.conf nsswitch.conf nfs.conf nfs.conf.d; do
    mount --bind "$WORK/etc/$f" "/etc/$f"
  done

  rpcbind -f -w &
  for _ in $(seq 200); do rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.05; done
  rpcinfo -p 127.0.0.1 >/dev/null || { note "rpcbind did not start"; exit 1; }

  daemon_bin() {
    case $1 in
      nfs-utils) echo "$NFSUTILS_STATD" ;;
      nsm) echo "$NSM_STATD" ;;
    esac
  }
  fresh_dir() {  # fresh_dir NAME [BASE]: state directory with sm/ and sm.bak/ owned by statd
    local d=${2:-$WORK/state}/$1
    rm -rf "$d"
    mkdir -p "$d/sm" "$d/sm.bak"
    chown -R "statd:$STATD_GROUP" "$d"
    echo "$d"
  }
  # start IMPL DIR LOG: sets SPAWN (JSON), DPID, DPORT; returns non-zero if not ready.
  start() {
    PORT=$((PORT + 1))
    DPORT=$PORT
    SPAWN=$("$BENCH" spawn --port "$DPORT" --timeout "$START_TIMEOUT" --log "$3" -- \
      "$(daemon_bin "$1")" -F -d -L -P "$2" -p "$DPORT") || true
    DPID=$(field "$SPAWN" pid)
    [[ $(field "$SPAWN" ready) == true ]]
  }
  stop() {
    local pid=$1
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do
      [[ -e /proc/$pid ]] || break
      grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && break
      sleep 0.05
    done
    if [[ -e /proc/$pid ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    rpcinfo -d 100024 1 >/dev/null 2>&1 || true  # a killed statd leaves its registration
  }
  rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || true; }

  # scenario IMPL NAME CALLERS N [mon options...]
  scenario() {
    local impl=$1 name=$2 callers=$3 n=$4
    shift 4
    local dir log json
    dir=$(fresh_dir "$impl-$name")
    log=$WORK/logs/$impl-$name.log
    note "$impl $name: N=$n callers=$callers $*"
    if ! start "$impl" "$dir" "$log"; then
      record "{\"impl\":\"$impl\",\"scenario\":\"$name\",\"error\":\"daemon not ready: ${SPAWN//\"/}\"}"
      stop "$DPID"
      return
    fi
    json=$("$BENCH" mon --port "$DPORT" --count "$n" --callers "$callers" \
      --deadline "$BUDGET" --levels "$LEVELS" "$@") || json='{"error":"bench failed"}'
    local rss files
    rss=$(rss_kb "$DPID")
    stop "$DPID"
    files=$(find "$dir/sm" -mindepth 1 -maxdepth 1 | wc -l)
    record "{\"impl\":\"$impl\",\"scenario\":\"$name\",\"startup_empty_ms\":$(field "$SPAWN" startup_ms),\"rss_after_kb\":${rss:-null},\"sm_files\":$files,${json#\{}"
    note "  -> $json"
    rm -rf "$dir"
  }

  # startup IMPL: preload PRELOAD monitors, then measure STARTS start-ups (exec -> NULL/UDP).
  startup() {
    local impl=$1 dir preloaded how
    dir=$(fresh_dir "$impl-startup" "$WORK/tmpfs")
    if [[ $impl == nfs-utils ]]; then
      how="legacy sm/ files generated by smmon_bench gen-sm"
      "$BENCH" gen-sm --dir "$dir/sm" --count "$PRELOAD" >/dev/null
      chown -R "statd:$STATD_GROUP" "$dir/sm"
      preloaded=$(find "$dir/sm" -mindepth 1 -maxdepth 1 | wc -l)
    else
      how="SM_MON through smmon_bench (callers $CALLERS)"
      note "$impl startup: preloading $PRELOAD monitors over RPC"
      if ! start "$impl" "$dir" "$WORK/logs/$impl-preload.log"; then
        record "{\"impl\":\"$impl\",\"scenario\":\"startup\",\"error\":\"daemon not ready\"}"
        stop "$DPID"
        return
      fi
      local json
      json=$("$BENCH" mon --port "$DPORT" --count "$PRELOAD" --callers "$CALLERS" \
        --deadline "$BUDGET") || json='{}'
      stop "$DPID"
      preloaded=$(field "$json" ok)
      note "  preload -> $json"
    fi
    local runs="" rss="" i
    for i in $(seq "$STARTS"); do
      note "$impl startup $i/$STARTS with ${preloaded:-0} monitors"
      if start "$impl" "$dir" "$WORK/logs/$impl-startup.log"; then
        runs+="${runs:+,}$(field "$SPAWN" startup_ms)"
        rss+="${rss:+,}$(field "$SPAWN" rss_kb)"
      else
        record "{\"impl\":\"$impl\",\"scenario\":\"startup\",\"error\":\"not ready: ${SPAWN//\"/}\"}"
        stop "$DPID"
        rm -rf "$dir"
        return
      fi
      [[ $i == "$STARTS" ]] || stop "$DPID"
    done
    # A few more SM_MONs (new names) into the preloaded list: the cost of one more monitor.
    local probe
    probe=$("$BENCH" mon --port "$DPORT" --count "$PROBE" --start "$PRELOAD" \
      --deadline "$BUDGET") || probe='{}'
    stop "$DPID"
    note "  probe -> $probe"
    record "{\"impl\":\"$impl\",\"scenario\":\"startup\",\"preloaded\":${preloaded:-0},\"preload_how\":\"$how\",\"startup_ms\":[$runs],\"rss_kb\":[$rss],\"probe\":$probe}"
    rm -rf "$dir"
  }

  # Load runs use state directories on the disk of /var/tmp. The 100,000-monitor start-up
  # runs use a tmpfs private to this mount namespace: the files are in the page cache either
  # way, and deleting 100,000 written-back files from a busy disk took minutes.
  mkdir -p "$WORK/logs" "$WORK/state" "$WORK/tmpfs"
  mount -t tmpfs -o mode=0755 tmpfs "$WORK/tmpfs"
  impls=()
  for impl in $IMPLS; do
    bin=$(daemon_bin "$impl")
    if [[ -x "$bin" ]]; then
      impls+=("$impl")
    else
      note "skipping $impl: $bin not found"
      record "{\"impl\":\"$impl\",\"skipped\":\"$bin not found\"}"
    fi
  done
  for n in $SIZES; do
    for impl in "${impls[@]}"; do scenario "$impl" "fill-1-$n" 1 "$n"; done
    for impl in "${impls[@]}"; do scenario "$impl" "fill-$CALLERS-$n" "$CALLERS" "$n"; done
    for impl in "${impls[@]}"; do
      scenario "$impl" "fill-$CALLERS-percall-$n" "$CALLERS" "$n" --per-call
    done
  done
  for impl in "${impls[@]}"; do startup "$impl"; done
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Outer part: build, prepare, run the inner part in its namespaces, write the report.
# ---------------------------------------------------------------------------------------
RELEASE=${1:-build-release}
[[ "$RELEASE" = /* ]] || RELEASE=$ROOT/$RELEASE
[[ $(id -u) == 0 ]] || { echo "bench/run.sh: needs root (namespaces, rpcbind)" >&2; exit 1; }
for c in unshare ip rpcbind rpcinfo g++ python3 find; do
  command -v "$c" >/dev/null || { echo "bench/run.sh: missing $c" >&2; exit 1; }
done
id statd >/dev/null 2>&1 || { echo "bench/run.sh: user statd missing (nfs-common)" >&2; exit 1; }

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  default_budget=60 default_probe=5
else
  default_budget=3600 default_probe=20
fi
export BUDGET=${BENCH_BUDGET:-$default_budget}
export SIZES=${BENCH_SIZES:-1000 10000}
export CALLERS=${BENCH_CALLERS:-16}
export PRELOAD=${BENCH_PRELOAD:-100000}
export STARTS=${BENCH_STARTS:-3}
export PROBE=${BENCH_PROBE:-$default_probe}
export IMPLS=${BENCH_IMPLS:-nfs-utils nsm}
export NFSUTILS_STATD=${BENCH_NFSUTILS_STATD:-/usr/sbin/rpc.statd}
export NSM_STATD=$RELEASE/rpc.statd
export START_TIMEOUT=${BENCH_START_TIMEOUT:-600}
export LEVELS=100,1000,2500,5000,10000
OUT=${BENCH_OUT:-$HERE/RESULTS.md}

WORK=$(mktemp -d /var/tmp/nsm-bench.XXXXXX)
chmod 0755 "$WORK"  # the daemons run as statd below it
NSPID=""
cleanup() {
  local rc=$? init="" p
  trap - EXIT INT TERM
  if [[ -n "$NSPID" ]]; then
    # unshare ignores SIGINT/SIGTERM while it waits. SIGKILL the namespace's init (its
    # child): that takes every process of the pid namespace with it; then unshare itself
    # (--kill-child covers a child forked in between).
    init=$(cat "/proc/$NSPID/task/$NSPID/children" 2>/dev/null || true)
    for p in $init; do kill -KILL "$p" 2>/dev/null || true; done
    kill -KILL "$NSPID" 2>/dev/null || true
    wait "$NSPID" 2>/dev/null || true
    for p in $init; do
      for _ in $(seq 100); do  # gone, or a zombie: its namespace's processes are dead
        grep -qs '^State:[[:space:]]*[RSDT]' "/proc/$p/status" || break
        sleep 0.05
      done
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "[bench] interrupted" >&2; exit 130' INT TERM

g++ -O2 -std=c++20 -pthread -Wall -Wextra -o "$WORK/smmon_bench" "$HERE/smmon_bench.cc"

command_line="./bench/run.sh $*"
for v in BENCH_QUICK BENCH_SIZES BENCH_CALLERS BENCH_BUDGET BENCH_PRELOAD BENCH_STARTS \
  BENCH_PROBE BENCH_IMPLS BENCH_NFSUTILS_STATD; do
  [[ -n "${!v:-}" ]] && command_line="$v=${!v} $command_line"
done
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)

unshare --pid --fork --kill-child --mount-proc --net --mount --propagation private \
  "$HERE/run.sh" --inner "$WORK" &
NSPID=$!
wait "$NSPID"
NSPID=""

cp "$WORK/results.jsonl" "${OUT%.md}.jsonl"  # raw results, to re-render or inspect
python3 "$HERE/report.py" "$WORK/results.jsonl" \
  --command "$command_line" --started "$started" --finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --fs "$(df -T "$WORK" | awk 'NR==2 {print $2 " on " $1}') (load runs); tmpfs (start-up runs)" \
  --nfs-utils "$(dpkg-query -W -f '${Package} ${Version}' nfs-common 2>/dev/null || echo '?')" \
  --nsm "$( [[ -x $NSM_STATD ]] && echo "$NSM_STATD ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))" || echo "not built: $NSM_STATD")" \
  --loadavg "$loadavg (start), $(cut -d' ' -f1-3 /proc/loadavg) (end)" --budget "$BUDGET" --sizes "$SIZES" --callers "$CALLERS" --preload "$PRELOAD" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "[bench] wrote $OUT and ${OUT%.md}.jsonl" >&2
