#!/usr/bin/env bash
# Re-capture README.md's example blocks from the current binary, in place.
#
#   scripts/readme-examples.sh
#
# Every ```console block of README.md follows a marker naming its scene
# (<!-- example scene=leak columns=80 -->). tests/it/docs/readme.rs builds each scene with real
# loopback sockets in a fresh network and pid namespace (tests/support/readme_scene.py),
# runs the block's command there with COLUMNS set, and, with SOCKLEAK_BLESS=1, writes
# what the release binary printed into the block. Without it, the same test fails when
# a block's table header no longer matches the binary (cargo test runs it so).
# Takes about 6 minutes: blocks marked age=330 wait until their leak is 5.5 minutes
# old (past --leak-after), as a leak found at 3 a.m. is.
# Needs root, unshare (util-linux), ip (iproute2), python3 with urllib3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "readme-examples: needs root (unshare --net --pid)" >&2; exit 3; }
SOCKLEAK_BLESS=1 cargo test --release --test it -- --exact docs::readme::readme_examples_are_what_the_binary_prints
git --no-pager diff --stat -- README.md
echo "readme-examples: README.md rewritten; read 'git diff README.md' before committing" >&2
