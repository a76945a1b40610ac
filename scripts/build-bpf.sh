#!/usr/bin/env bash
# Rebuilds bpf/recorder.bpf.o from bpf/recorder.bpf.c with Debian's clang, reproducibly:
# fixed flags, no debug info or BTF (-g0: the object reads only struct __sk_buff, so it
# needs no CO-RE), relative source path, then stripped of anything host-dependent.
# `cargo build` never runs this: it embeds the committed object (src/collect/trace).
# `--check` rebuilds into a temporary file and fails if the committed object differs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang >/dev/null || ! command -v llvm-strip >/dev/null ||
  [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm libbpf-dev
fi

out=bpf/recorder.bpf.o
[ "${1:-}" = --check ] && out=$(mktemp --suffix=.bpf.o)
# -I for asm/types.h: Debian keeps the arch headers in the multiarch directory.
clang -O2 -g0 -target bpf -Wall -Werror \
  -I"/usr/include/$(uname -m)-linux-gnu" \
  -ffile-prefix-map="$PWD"=. \
  -c bpf/recorder.bpf.c -o "$out"
llvm-strip --strip-debug --remove-section=.comment --remove-section=.llvm_addrsig "$out"

if [ "${1:-}" = --check ]; then
  if ! cmp -s "$out" bpf/recorder.bpf.o; then
    rm -f "$out"
    echo "bpf/recorder.bpf.o is stale: run scripts/build-bpf.sh and commit the object" >&2
    exit 1
  fi
  rm -f "$out"
  echo "bpf/recorder.bpf.o matches bpf/recorder.bpf.c"
fi
