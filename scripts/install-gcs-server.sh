#!/usr/bin/env bash
# Install the pinned fake-gcs-server (the Google Cloud Storage emulator used by
# the tests) into <repo>/.tools/bin, building it from the Go module proxy (see
# install-go-tool.sh).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-go-tool.sh" install-gcs-server fake-gcs-server \
  github.com/fsouza/fake-gcs-server v1.56.1 github.com/fsouza/fake-gcs-server
