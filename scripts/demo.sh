#!/usr/bin/env bash
# The main job, local-only: build example/ through the plugin twice (cold, then
# warm) with a throw-away cache, printing the plugin's metrics line each time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "demo: the go command is not installed (need Go >= 1.24)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GOCACHE="$work/gocache" GOTOOLCHAIN=local GOFLAGS=-mod=mod
export GOCACHEPROG="$root/dist/go-cache-plugin --cache-dir $work/plugin-cache --metrics"
cd "$root/example"
echo "== cold build"; time go build -o "$work/hello" .
echo "== warm build (fresh GOCACHE: everything comes from the plugin)"
export GOCACHE="$work/gocache2"; time go build -o "$work/hello" .
"$work/hello"
