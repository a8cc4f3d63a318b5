#!/usr/bin/env bash
# Install what runs the linux-arm64 release binary on an x86-64 machine
# (test/release.test.ts): qemu-user-static and the aarch64 C library, from
# Debian's packages. Idempotent: nothing is done when both are there. Needs
# root (apt-get). With CI=true a failure exits 1 with the reason; without it
# the failure is a warning and the test that needs them fails naming this
# script.
set -euo pipefail

QEMU=qemu-aarch64-static
LOADER=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1

fail() {
  if [[ "${CI:-}" == "true" ]]; then
    echo "install-qemu: error: $*" >&2
    exit 1
  fi
  echo "install-qemu: warning: $* (the arm64 release test will fail until this script succeeds)" >&2
  exit 0
}

[[ "$(uname -m)" == "x86_64" ]] || exit 0 # elsewhere the release test runs what the machine runs natively
if command -v "$QEMU" >/dev/null 2>&1 && [[ -e "$LOADER" ]]; then exit 0; fi
command -v apt-get >/dev/null 2>&1 || fail "no apt-get: install qemu-user-static and libc6-arm64-cross yourself"
[[ "$(id -u)" == "0" ]] || fail "apt-get needs root: run 'apt-get install qemu-user-static libc6-arm64-cross' as root"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q qemu-user-static libc6-arm64-cross >/dev/null 2>&1; then
  apt-get update -q >/dev/null 2>&1 || fail "apt-get update failed"
  apt-get install -y -q qemu-user-static libc6-arm64-cross >/dev/null || fail "apt-get install qemu-user-static libc6-arm64-cross failed"
fi
command -v "$QEMU" >/dev/null 2>&1 && [[ -e "$LOADER" ]] || fail "installed, but $QEMU or $LOADER is still missing"
echo "install-qemu: $QEMU and the aarch64 C library are installed"
