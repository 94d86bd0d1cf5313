#!/bin/bash
# Builds and runs nsm's libFuzzer targets (tests/fuzz, docs/fuzzing.md) with clang in
# build directories of their own (the main build uses g++).
#
#   scripts/fuzz.sh smoke [SECONDS]          build, then each target SECONDS (default 15)
#                                            on a scratch copy of its seed corpus, two
#                                            at a time; fails on any crash. `make test`.
#   scripts/fuzz.sh run [SECONDS] [TARGET..] long runs (default 600 s per target), one
#                                            target at a time, corpora kept in
#                                            build-fuzz/corpus/<target>; `make fuzz`.
#   scripts/fuzz.sh coverage [TARGET..]      line/branch coverage of the code under test
#                                            when replaying the corpora (build-fuzz-cov).
#   scripts/fuzz.sh build                    configure and build only.
#   scripts/fuzz.sh list                     the targets.
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_JOBS (parallel targets in smoke,
# default 2), FUZZ_ARGS (extra libFuzzer flags). Crash inputs are kept in
# $FUZZ_BUILD/artifacts/<target>/; reproduce one with `$FUZZ_BUILD/fuzz/<target>_fuzz FILE`.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$src/build-fuzz}
[[ $build = /* ]] || build=$src/$build
jobs=${FUZZ_JOBS:-2}
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

die() { echo "fuzz.sh: $*" >&2; exit 1; }

# Configures a clang build with the fuzz targets; $2 = extra CMake arguments.
configure() {
  local dir=$1; shift
  command -v clang++ >/dev/null || die "clang++ not found (apt-get install clang libclang-rt-14-dev)"
  if [[ ! -f $dir/CMakeCache.txt ]] || ! grep -q '^NSM_FUZZ:BOOL=ON' "$dir/CMakeCache.txt"; then
    cmake -S "$src" -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
      -DNSM_SANITIZE=ON -DNSM_TESTS=OFF -DNSM_FUZZ=ON "$@" >/dev/null
  else
    cmake "$dir" "$@" >/dev/null  # picks up new sources (e.g. the legacy_sm target)
  fi
}

build_targets() {
  local dir=$1; shift
  configure "$dir" "$@"
  cmake --build "$dir" --target fuzz_all -j"$(nproc)" >"$dir/build.log" 2>&1 || {
    tail -40 "$dir/build.log" >&2; die "build failed (full log: $dir/build.log)"; }
}

all_targets() {
  local t
  for t in "$1"/fuzz/*_fuzz; do [[ -x $t ]] && basename "${t%_fuzz}"; done
}

# Extra libFuzzer flags for one target: its dictionary and input size.
target_flags() {
  local t=$1
  [[ -f $src/tests/fuzz/$t.dict ]] && echo "-dict=$src/tests/fuzz/$t.dict"
  case $t in
    nfs_conf) echo "-max_len=9000" ;;  # past NfsConf::kMaxLineLength
    resolver_frame) echo "-max_len=4200" ;;  # a whole kMaxFrame
    *) echo "-max_len=2048" ;;
  esac
}

# run_one TARGET SECONDS CORPUS_DIR LOG: fuzzes; returns non-zero on a crash.
run_one() {
  local t=$1 secs=$2 corpus=$3 log=$4 art=$build/artifacts/$t
  mkdir -p "$art" "$corpus"
  local -a flags
  mapfile -t flags < <(target_flags "$t")
  "$build/fuzz/${t}_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "${flags[@]}" "${extra_args[@]}" \
    "$corpus" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1
}

summary() {  # summary TARGET LOG
  local t=$1 log=$2 execs cov ft corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s execs=%-10s cov=%-6s ft=%-6s corpus=%s\n' "$t" "${execs:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}"
}

report_crash() {  # report_crash TARGET LOG
  echo "fuzz.sh: $1 FAILED; last lines of $2:" >&2
  grep -E 'ERROR|invariant failed|SUMMARY|Test unit written|^#[0-9]+ 0x' "$2" | head -20 >&2 || true
}

cmd_smoke() {
  local secs=${1:-15} t scratch failed=0
  local start=$SECONDS
  build_targets "$build"
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/nsm-fuzz-smoke.XXXXXX")
  trap 'rm -rf "$scratch"' RETURN
  local -a targets pids names
  mapfile -t targets < <(all_targets "$build")
  [[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets built"
  echo "fuzz.sh: build $((SECONDS - start)) s; ${#targets[@]} targets x ${secs} s, $jobs at a time"
  for t in "${targets[@]}"; do
    run_one "$t" "$secs" "$scratch/$t" "$scratch/$t.log" & pids+=($!); names+=("$t")
    if [[ ${#pids[@]} -ge $jobs ]]; then
      wait "${pids[0]}" || { report_crash "${names[0]}" "$scratch/${names[0]}.log"; failed=1; }
      summary "${names[0]}" "$scratch/${names[0]}.log"
      pids=("${pids[@]:1}"); names=("${names[@]:1}")
    fi
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { report_crash "${names[$i]}" "$scratch/${names[$i]}.log"; failed=1; }
    summary "${names[$i]}" "$scratch/${names[$i]}.log"
  done
  echo "fuzz.sh: smoke pass $((SECONDS - start)) s in all"
  [[ $failed -eq 0 ]] || die "crashes found (inputs in $build/artifacts/, logs in $scratch)"
}

cmd_run() {
  local secs=600 failed=0 t
  if [[ ${1:-} =~ ^[0-9]+$ ]]; then secs=$1; shift; fi
  build_targets "$build"
  local -a targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(all_targets "$build")
  mkdir -p "$build/logs"
  for t in "${targets[@]}"; do
    [[ -x $build/fuzz/${t}_fuzz ]] || die "no such target: $t"
    echo "fuzz.sh: $t for $secs s (log: $build/logs/$t.log)"
    if ! run_one "$t" "$secs" "$build/corpus/$t" "$build/logs/$t.log"; then
      report_crash "$t" "$build/logs/$t.log"; failed=1
    fi
    summary "$t" "$build/logs/$t.log"
  done
  [[ $failed -eq 0 ]] || die "crashes found (inputs in $build/artifacts/)"
}

# Source-based coverage of replaying the seed corpus plus build-fuzz/corpus/<target>.
cmd_coverage() {
  local cov=${build}-cov t
  build_targets "$cov" -DNSM_FUZZ_COVERAGE=ON
  local -a targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(all_targets "$cov")
  rm -rf "$cov/profiles"; mkdir -p "$cov/profiles"
  for t in "${targets[@]}"; do
    local -a dirs=("$src/tests/fuzz/corpus/$t")
    [[ -d $build/corpus/$t ]] && dirs+=("$build/corpus/$t")
    LLVM_PROFILE_FILE="$cov/profiles/$t.profraw" "$cov/fuzz/${t}_fuzz" -runs=0 "${dirs[@]}" \
      >"$cov/profiles/$t.log" 2>&1 || die "$t failed while replaying its corpus"
    llvm-profdata merge -sparse "$cov/profiles/$t.profraw" -o "$cov/profiles/$t.profdata"
    echo "== $t"
    # File, line coverage, branch coverage (columns 1, 10 and 13 of llvm-cov's table).
    llvm-cov report "$cov/fuzz/${t}_fuzz" -instr-profile="$cov/profiles/$t.profdata" \
      -ignore-filename-regex='(tests/fuzz|/usr/)' |
      awk '$1 !~ /^-/ && NF >= 13 { printf "  %-28s lines %-8s branches %s\n", $1, $10, $13 }'
  done
}

case ${1:-} in
  smoke) shift; cmd_smoke "$@" ;;
  run) shift; cmd_run "$@" ;;
  coverage) shift; cmd_coverage "$@" ;;
  build) build_targets "$build" ;;
  list) build_targets "$build"; all_targets "$build" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
