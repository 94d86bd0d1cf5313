#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing nsm need.
# Idempotent: when dpkg already knows every package it does nothing (no network).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libtirpc-dev libsqlite3-dev libasio-dev googletest libgtest-dev nlohmann-json3-dev
  rpcbind nfs-common tshark iproute2 procps util-linux sqlite3 net-tools
  python3 python3-pytest
  debhelper fakeroot
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer it up front (CI has no stdin).
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
