#!/usr/bin/env bash
# Install the pinned versitygw (S3-compatible server used by the tests) into
# <repo>/.tools/bin, building it from the Go module proxy (see install-go-tool.sh).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tool.sh" install-s3-server versitygw \
  github.com/versity/versitygw v1.8.0 github.com/versity/versitygw/cmd/versitygw
