#!/usr/bin/env bash
# Build this platform's krew archive (a tar.gz holding the binary and LICENSE), compute its
# sha256 and write a krew manifest from plugin.yaml with it.
#
#   scripts/release.sh [--binary PATH] [--out DIR] [--version vX.Y.Z]
#
# Without --binary it builds `cargo build --release`. The archive is reproducible (sorted
# names, fixed mtime and owner), so the same binary always gives the same sha256. Other
# platforms' entries keep their sha256 until built on (or cross-built for) them.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="" out="dist" version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--out DIR] [--version vX.Y.Z]" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] || version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
if [ -z "$binary" ]; then
  cargo build --release --locked
  binary=target/release/kubectl-ceph-image
fi
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "unsupported OS $(uname -s)" >&2; exit 1 ;; esac
case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac

name="kubectl-ceph-image_${version}_${os}_${arch}"
mkdir -p "$out"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$binary" "$stage/kubectl-ceph-image"
install -m 0644 LICENSE "$stage/LICENSE"
tar --sort=name --mtime='@0' --owner=0 --group=0 --numeric-owner -C "$stage" -cf - kubectl-ceph-image LICENSE \
  | gzip -n > "$out/$name.tar.gz"
sha="$(sha256sum "$out/$name.tar.gz" | cut -d' ' -f1)"

# The manifest: this version everywhere, this platform's sha256 after its uri.
awk -v version="$version" -v archive="${os}_${arch}.tar.gz" -v sha="$sha" '
  { gsub(/v[0-9]+\.[0-9]+\.[0-9]+/, version) }
  /uri:/ { hit = index($0, archive) > 0 }
  /sha256:/ && hit { sub(/"[0-9a-f]*"/, "\"" sha "\""); hit = 0 }
  { print }
' plugin.yaml > "$out/ceph-image.yaml"
echo "$out/$name.tar.gz $sha"
echo "$out/ceph-image.yaml"
