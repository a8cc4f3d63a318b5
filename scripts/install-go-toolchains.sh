#!/usr/bin/env bash
# Install the extra Go toolchains the end-to-end tests run with (beside the
# machine's own go) into <repo>/.tools/go/<version>/, one GOROOT each
# (test/support/go.ts: goToolchains()). Each is the toolchain module
# golang.org/toolchain@v0.0.1-<version>.<os>-<arch> from the Go module proxy,
# fetched once by `GOTOOLCHAIN=<version> go version` into a private module
# cache (the go command restores the execute bits and nested go.mod files the
# module zip cannot carry) and moved into place.
#
# Idempotent: a toolchain already there that reports its version is left alone
# (a few milliseconds). With CI=true a failure exits 1 with the reason; without
# it the failure is a warning and the tests that need the toolchain fail with
# a message naming this script.
set -euo pipefail

GO_TOOLCHAINS=(go1.27.3)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest_root="$repo_root/.tools/go"

fail() {
  if [[ "${CI:-}" == "true" ]]; then
    echo "install-go-toolchains: error: $*" >&2
    exit 1
  fi
  echo "install-go-toolchains: warning: $* (the e2e tests for that toolchain will fail until this script succeeds)" >&2
  exit 0
}

if command -v go >/dev/null 2>&1; then
  go_bin="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
else
  fail "'go' not found on PATH or in /usr/local/go/bin; install Go (>= 1.21) to fetch the toolchains ${GO_TOOLCHAINS[*]}"
fi

# Prints the version a GOROOT's go command reports when it runs as itself.
installed_version() {
  GOTOOLCHAIN=local GOROOT="$1" GOFLAGS= "$1/bin/go" env GOVERSION 2>/dev/null || true
}

staging=""
cleanup() {
  if [[ -n "$staging" && -d "$staging" ]]; then
    chmod -R u+w "$staging" 2>/dev/null || true
    rm -rf "$staging"
  fi
}
trap cleanup EXIT

for version in "${GO_TOOLCHAINS[@]}"; do
  dest="$dest_root/$version"
  if [[ -x "$dest/bin/go" && "$(installed_version "$dest")" == "$version" ]]; then
    echo "install-go-toolchains: $version already installed at $dest"
    continue
  fi

  goos="$(GOTOOLCHAIN=local "$go_bin" env GOHOSTOS)"
  goarch="$(GOTOOLCHAIN=local "$go_bin" env GOHOSTARCH)"
  module="golang.org/toolchain@v0.0.1-$version.$goos-$goarch"
  mkdir -p "$dest_root"
  staging="$(mktemp -d "$dest_root/.staging-$version.XXXXXX")"
  start=$SECONDS
  # Outside the repo (no go.mod/go.work here), a private module cache, and the
  # environment's GOPROXY (default: the Go module proxy).
  if ! out="$(cd / && env -u GOROOT -u GOFLAGS GOMODCACHE="$staging/modcache" GOPATH="$staging/gopath" \
    GOTOOLCHAIN="$version" GOTELEMETRY=off "$go_bin" version 2>"$staging/stderr")"; then
    fail "could not fetch $module with GOTOOLCHAIN=$version $go_bin version (GOPROXY=$(GOTOOLCHAIN=local "$go_bin" env GOPROXY)):
$(cat "$staging/stderr")"
  fi
  if [[ "$out" != "go version $version "* ]]; then
    fail "GOTOOLCHAIN=$version $go_bin version printed '$out', expected 'go version $version ...'"
  fi
  fetched="$staging/modcache/$module"
  [[ -x "$fetched/bin/go" ]] || fail "$fetched/bin/go is missing after fetching $module"
  # Module cache files are read-only; make the tree removable like any other.
  chmod -R u+w "$fetched"
  rm -rf "$dest"
  mv "$fetched" "$dest"
  got="$(installed_version "$dest")"
  [[ "$got" == "$version" ]] || fail "$dest/bin/go reports '$got' after installing, expected $version"
  cleanup
  staging=""
  echo "install-go-toolchains: installed $version ($module) at $dest in $((SECONDS - start))s"
done
