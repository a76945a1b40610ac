#!/usr/bin/env bash
# Release build for production hosts: one portable x86_64 Linux binary (newest glibc
# symbol 2.17, stripped, at most 8 MiB), its completions and man page generated from
# itself, a tarball and a .deb of that same binary, and SHA256SUMS.
#
#   scripts/dist.sh            -> dist/sockleak-VERSION-x86_64-linux-gnu.tar.gz
#                                 dist/sockleak_VERSION-1_amd64.deb, dist/SHA256SUMS
#   scripts/dist.sh --tools    only install the tools below (CI does this first)
#
# It installs what it needs itself, pinned, skipping what is already there:
# cargo-zigbuild and cargo-deb (crates.io), Zig (PyPI package ziglang, into
# $SOCKLEAK_TOOLS, not into the system Python). Zig links against glibc 2.17's
# symbol versions, which no Debian or Ubuntu toolchain here can.
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGBUILD_VERSION=0.24.1
CARGO_DEB_VERSION=3.8.0
ZIG_VERSION=0.15.2
GLIBC_MAX=2.17
MAX_BYTES=$((8 * 1024 * 1024))
TRIPLE=x86_64-unknown-linux-gnu
TOOLS=${SOCKLEAK_TOOLS:-$HOME/.cache/sockleak-dist}

say() { printf 'dist: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 3; }

# Tools ---------------------------------------------------------------------------
# `cargo install --debug`: these only drive the build; a dev build of them compiles in
# about half the time and they are no slower here in any way that matters.
need_crate() { # crate version binary
  if [ "$("$3" --version 2>/dev/null)" = "$1 $2" ]; then return; fi
  say "installing $1 $2 (cargo install --locked)"
  cargo install --locked --debug "$1@$2"
}
need_crate cargo-zigbuild "$ZIGBUILD_VERSION" cargo-zigbuild
need_crate cargo-deb "$CARGO_DEB_VERSION" cargo-deb

ZIG_DIR=$TOOLS/ziglang-$ZIG_VERSION
if [ "$("$ZIG_DIR/ziglang/zig" version 2>/dev/null)" != "$ZIG_VERSION" ]; then
  command -v python3 >/dev/null || die "python3 is needed to install Zig from PyPI (apt-get install python3 python3-pip)"
  python3 -m pip --version >/dev/null 2>&1 || die "pip is needed to install Zig from PyPI (apt-get install python3-pip)"
  say "installing ziglang $ZIG_VERSION into $ZIG_DIR"
  rm -rf "$ZIG_DIR"
  # --target: a private directory, so neither an externally managed system Python
  # (PEP 668) nor another ziglang on the machine is touched.
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --root-user-action=ignore \
    --target "$ZIG_DIR" "ziglang==$ZIG_VERSION"
fi
# cargo-zigbuild asks `python3 -m ziglang` first, then $CARGO_ZIGBUILD_ZIG_PATH: both
# point at the pinned Zig.
export PYTHONPATH=$ZIG_DIR${PYTHONPATH:+:$PYTHONPATH}
export CARGO_ZIGBUILD_ZIG_PATH=$ZIG_DIR/ziglang/zig

[ "${1:-}" = --tools ] && exit 0
[ $# -eq 0 ] || die "unknown argument '$1' (usage: scripts/dist.sh [--tools])"

# Build ---------------------------------------------------------------------------
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$VERSION" ] || die "no version in Cargo.toml"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
say "building sockleak $VERSION for $TRIPLE with glibc $GLIBC_MAX symbols (profile dist)"
cargo zigbuild --locked --profile dist --target "$TRIPLE.$GLIBC_MAX"
BIN=$TARGET_DIR/$TRIPLE/dist/sockleak
[ -x "$BIN" ] || die "the build left no $BIN"

# Refuse to pack a binary that would not start on the oldest hosts.
if command -v objdump >/dev/null; then
  newest=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
  [ "$(printf '%s\n%s\n' "$newest" "$GLIBC_MAX" | sort -V | tail -n1)" = "$GLIBC_MAX" ] ||
    die "$BIN needs glibc $newest, newer than $GLIBC_MAX"
  say "newest glibc symbol: $newest"
else
  say "objdump not found (binutils): glibc symbol versions not checked here"
fi
size=$(stat -c %s "$BIN")
[ "$size" -le "$MAX_BYTES" ] || die "$BIN is $size bytes, over $MAX_BYTES"
say "binary: $size bytes"

# Generated files: from the binary itself, so they match its flags exactly --------
# Not under $TARGET_DIR: [package.metadata.deb] names these paths from the repo root.
GEN=target/dist-files
rm -rf "$GEN" && mkdir -p "$GEN/systemd"
"$BIN" completions bash >"$GEN/sockleak.bash"
"$BIN" completions zsh >"$GEN/_sockleak"
"$BIN" completions fish >"$GEN/sockleak.fish"
"$BIN" man >"$GEN/sockleak.1"
# The package installs the binary as /usr/bin/sockleak, the README under /usr/share/doc.
for unit in contrib/systemd/*; do
  # Its "# Install: cp ..." comment (and the lines continuing it) is for the tarball.
  sed -e 's/^# Install:.*/# Installed by the sockleak package, not enabled: systemctl enable --now '"${unit##*/}"'/' \
      -e '/^#         /d' \
      -e 's#/usr/local/bin/sockleak#/usr/bin/sockleak#g' \
      -e 's#/usr/local/share/doc/sockleak#/usr/share/doc/sockleak#g' "$unit" >"$GEN/systemd/${unit##*/}"
done

# Tarball -------------------------------------------------------------------------
NAME=sockleak-$VERSION-x86_64-linux-gnu
mkdir -p dist
STAGE=$TARGET_DIR/dist-stage/$NAME
rm -rf "$STAGE" && mkdir -p "$STAGE/completions" "$STAGE/man"
install -m 0755 "$BIN" "$STAGE/sockleak"
install -m 0644 README.md LICENSE "$STAGE/"
# docs/: the README links into it.
cp -R docs "$STAGE/docs"
install -m 0644 "$GEN/sockleak.1" "$STAGE/man/"
install -m 0644 "$GEN/sockleak.bash" "$GEN/_sockleak" "$GEN/sockleak.fish" "$STAGE/completions/"
cp -R contrib "$STAGE/contrib"
chmod -R u=rwX,go=rX "$STAGE"
# Reproducible: sorted names, no owner, files dated by the commit (or the epoch).
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" \
  -C "$(dirname "$STAGE")" -cf - "$NAME" | gzip -9n >"dist/$NAME.tar.gz"

# .deb: the same binary, not rebuilt and not stripped again ----------------------
rm -f dist/sockleak_*.deb
cargo deb --no-build --no-strip --profile dist --target "$TRIPLE" --output dist/ >/dev/null
DEB=$(ls dist/sockleak_"$VERSION"*_amd64.deb)

(cd dist && sha256sum "$NAME.tar.gz" "${DEB##*/}" >SHA256SUMS)
say "done:"
(cd dist && ls -l "$NAME.tar.gz" "${DEB##*/}" SHA256SUMS >&2)
