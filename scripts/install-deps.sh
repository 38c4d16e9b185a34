#!/usr/bin/env bash
# Debian packages the build and the tests need (run as root): the WASI C toolchain
# for the example guests, Debian's rustc with its wasm32 standard library (a second
# guest toolchain), and the network tools the fault lab uses.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  clang lld wasi-libc libclang-rt-14-dev-wasm32 \
  rustc libstd-rust-dev-wasm32 \
  iproute2 nftables tmux >/dev/null
