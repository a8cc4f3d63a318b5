#!/usr/bin/env bash
# Install one pinned Go program used by the tests into <repo>/.tools/bin,
# building it with `go install` from the Go module proxy. Idempotent: does
# nothing when the binary is already there and was built from the pinned
# version (read from the module version in its build info: `go install`
# builds carry no trustworthy version flag).
# Needs only `go` (from PATH or /usr/local/go/bin) and access to the module proxy.
#
#   install-go-tool.sh LABEL BINARY MODULE VERSION PACKAGE
#   e.g. install-go-tool.sh install-s3-server versitygw github.com/versity/versitygw v1.8.0 github.com/versity/versitygw/cmd/versitygw
set -euo pipefail

if [[ $# -ne 5 ]]; then
  echo "usage: install-go-tool.sh LABEL BINARY MODULE VERSION PACKAGE" >&2
  exit 2
fi
label="$1" name="$2" module="$3" version="$4" package="$5"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo_root/.tools/bin"
bin="$bin_dir/$name"

if command -v go >/dev/null 2>&1; then
  go_bin="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
else
  echo "$label: error: 'go' not found on PATH or in /usr/local/go/bin; install Go (>= 1.25) to build $name $version" >&2
  exit 1
fi

if [[ -x "$bin" ]] &&
  "$go_bin" version -m "$bin" 2>/dev/null |
  awk -v m="$module" -v v="$version" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
  echo "$label: $name $version already installed at $bin"
  exit 0
fi

mkdir -p "$bin_dir"
start=$SECONDS
# Run outside the repo so no go.mod/go.work here can interfere.
(cd / && GOBIN="$bin_dir" "$go_bin" install "$package@$version")
echo "$label: built $name $version into $bin with $("$go_bin" env GOVERSION) in $((SECONDS - start))s"
