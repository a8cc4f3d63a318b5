#!/usr/bin/env bash
# Install the pinned versitygw (S3-compatible server used by the tests) into
# <repo>/.tools/bin, building it from the Go module proxy. Idempotent: does
# nothing when the binary is already there and was built from the pinned version.
# Needs only `go` (from PATH or /usr/local/go/bin) and access to the module proxy.
set -euo pipefail

VERSITYGW_MODULE="github.com/versity/versitygw"
VERSITYGW_VERSION="v1.8.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo_root/.tools/bin"
bin="$bin_dir/versitygw"

if command -v go >/dev/null 2>&1; then
  go_bin="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
else
  echo "install-s3-server: error: 'go' not found on PATH or in /usr/local/go/bin; install Go (>= 1.25) to build versitygw $VERSITYGW_VERSION" >&2
  exit 1
fi

# `versitygw --version` prints "git" for `go install` builds (no ldflags), so
# read the module version embedded in the binary's build info instead.
if [[ -x "$bin" ]] &&
  "$go_bin" version -m "$bin" 2>/dev/null |
  awk -v m="$VERSITYGW_MODULE" -v v="$VERSITYGW_VERSION" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
  echo "install-s3-server: versitygw $VERSITYGW_VERSION already installed at $bin"
  exit 0
fi

mkdir -p "$bin_dir"
start=$SECONDS
# Run outside the repo so no go.mod/go.work here can interfere.
(cd / && GOBIN="$bin_dir" "$go_bin" install "$VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION")
echo "install-s3-server: built versitygw $VERSITYGW_VERSION into $bin with $("$go_bin" env GOVERSION) in $((SECONDS - start))s"
