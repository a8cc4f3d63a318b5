#!/usr/bin/env bash
# Install the pinned fake-gcs-server (the Google Cloud Storage emulator used by
# the tests) into <repo>/.tools/bin, building it from the Go module proxy.
# Idempotent: does nothing when the binary is already there and was built from
# the pinned version.
# Needs only `go` (from PATH or /usr/local/go/bin) and access to the module proxy.
set -euo pipefail

FAKE_GCS_MODULE="github.com/fsouza/fake-gcs-server"
FAKE_GCS_VERSION="v1.56.1"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo_root/.tools/bin"
bin="$bin_dir/fake-gcs-server"

if command -v go >/dev/null 2>&1; then
  go_bin="$(command -v go)"
elif [[ -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
else
  echo "install-gcs-server: error: 'go' not found on PATH or in /usr/local/go/bin; install Go to build fake-gcs-server $FAKE_GCS_VERSION" >&2
  exit 1
fi

# A `go install` build carries no version flag worth trusting, so read the
# module version embedded in the binary's build info instead.
if [[ -x "$bin" ]] &&
  "$go_bin" version -m "$bin" 2>/dev/null |
  awk -v m="$FAKE_GCS_MODULE" -v v="$FAKE_GCS_VERSION" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
  echo "install-gcs-server: fake-gcs-server $FAKE_GCS_VERSION already installed at $bin"
  exit 0
fi

mkdir -p "$bin_dir"
start=$SECONDS
# Run outside the repo so no go.mod/go.work here can interfere.
(cd / && GOBIN="$bin_dir" "$go_bin" install "$FAKE_GCS_MODULE@$FAKE_GCS_VERSION")
echo "install-gcs-server: built fake-gcs-server $FAKE_GCS_VERSION into $bin with $("$go_bin" env GOVERSION) in $((SECONDS - start))s"
