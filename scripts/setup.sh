#!/usr/bin/env bash
# Installs, idempotently, everything goretain's build, tests and demo need on Debian bookworm:
# Debian packages (only from the package registry) and the Go toolchains used to build fixtures
# (only from the Go module proxy). Fast when everything is already there.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl file time
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libbpf-dev bpftool clang llvm libclang-rt-14-dev
  libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libdw-dev libelf-dev elfutils zlib1g-dev libzstd-dev
  gdb binutils
  chromium libpng-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages and not root; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go itself: the machine image carries a Go toolchain; every fixture toolchain is fetched by the
# go command from the module proxy (GOTOOLCHAIN=goX.Y.Z) and cached in the module cache.
if ! command -v go >/dev/null 2>&1; then
  echo "setup: no 'go' command on PATH; install Go 1.22 or newer (Debian: golang-go from bookworm-backports)" >&2
  exit 1
fi
"$(dirname "$0")/go-toolchains.sh" >/dev/null
"$(dirname "$0")/go-toolchains.sh" --old >/dev/null
