#!/usr/bin/env bash
# `make run`: runs the freshly built rpc.statd in the foreground, logging to stderr, on
# a state directory under ./var. Starts rpcbind first when none answers.
set -euo pipefail
build=${1:-build-release}
state_dir=${2:-$PWD/var/lib/nfs}
mkdir -p "$state_dir"
if ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then
  echo "run: starting rpcbind (none answered on 127.0.0.1)"
  mkdir -p /run/rpcbind
  rpcbind -w
fi
echo "run: $build/rpc.statd -F -d -P $state_dir (Ctrl-C stops it)"
exec "$build/rpc.statd" -F -d -P "$state_dir" "${@:3}"
