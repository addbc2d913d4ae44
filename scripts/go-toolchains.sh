#!/usr/bin/env bash
# Prints, one per line, the Go toolchains goretain's fixtures are built with, fetching any that are
# not cached yet through the Go module proxy. The list is the newest patch release of each Go
# release goretain supports; change it here only.
#   --old   print (and fetch) the unsupported toolchain the tests use to check refusal instead.
set -euo pipefail
TOOLCHAINS=(go1.22.12 go1.23.12 go1.24.13 go1.25.14 go1.26.11)
if [[ ${1:-} == --old ]]; then TOOLCHAINS=(go1.21.13); fi
for t in "${TOOLCHAINS[@]}"; do
  if ! out=$(GOTOOLCHAIN="$t" go version 2>&1); then
    echo "go-toolchains: cannot fetch $t through the Go module proxy: $out" >&2
    exit 1
  fi
  echo "$t"
done
