#!/usr/bin/env bash
# Fails when anything of sockleak's flight recorder is left in the kernel or in bpffs:
# a BPF program named sockleak_*, or a /sys/fs/bpf/sockleak* pin directory. Run by
# .ci/run after the tests (tests/it/trace.rs cleans up after every test; this is the
# check that it did). The kernel frees programs shortly after their last link goes:
# up to 5 s are allowed.
set -euo pipefail
for _ in $(seq 50); do
  progs=$(bpftool prog show 2>/dev/null | grep -c ' name sockleak_' || true)
  pins=$(find /sys/fs/bpf -maxdepth 1 -name 'sockleak*' 2>/dev/null | wc -l)
  [ "$progs" = 0 ] && [ "$pins" = 0 ] && { echo "no sockleak recorder left"; exit 0; }
  sleep 0.1
done
echo "sockleak recorder left behind: $progs program(s), $pins pin dir(s):" >&2
bpftool prog show | grep -A2 ' name sockleak_' >&2 || true
find /sys/fs/bpf -maxdepth 1 -name 'sockleak*' >&2 || true
exit 1
