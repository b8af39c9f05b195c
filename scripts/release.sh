#!/usr/bin/env bash
# Build one platform's krew archive (a tar.gz holding the binary and LICENSE), compute its
# sha256 and write the krew manifest with it.
#
#   scripts/release.sh [--binary PATH] [--os OS --arch ARCH] [--manifest FILE] [--out DIR] [--version vX.Y.Z]
#
# Without --binary it builds `cargo build --release` for this machine. --os/--arch name the
# platform of a cross-built --binary (default: this machine's). The archive is reproducible
# (sorted names, fixed mtime and owner), so the same binary always gives the same sha256.
#
# The manifest is written to DIR/ceph-image.yaml from --manifest (default plugin.yaml, the
# template): the version everywhere, and this platform's sha256 after its uri. The other
# platforms keep what the input has: in the template, the placeholder of 64 zeros, which
# krew would refuse at install (sha256 mismatch). To fill every platform, run the script
# once per platform, each run reading the manifest the previous one wrote:
#
#   scripts/release.sh --binary linux-amd64/kubectl-ceph-image --os linux --arch amd64
#   scripts/release.sh --binary linux-arm64/kubectl-ceph-image --os linux --arch arm64 --manifest dist/ceph-image.yaml
#   ...
#
# The platforms still holding the placeholder are named on stderr after each run.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: $0 [--binary PATH] [--os linux|darwin --arch amd64|arm64] [--manifest FILE] [--out DIR] [--version vX.Y.Z]"
binary="" out="dist" version="" os="" arch="" manifest="plugin.yaml"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --os) os="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --manifest) manifest="$2"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] || version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
case "$version" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "--version $version: krew wants vMAJOR.MINOR.PATCH" >&2; exit 2 ;; esac
if [ -z "$binary" ]; then
  [ -z "$os$arch" ] || { echo "--os/--arch name the platform of a --binary built elsewhere" >&2; exit 2; }
  cargo build --release --locked
  binary=target/release/kubectl-ceph-image
fi
if [ -z "$os" ]; then
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "unsupported OS $(uname -s)" >&2; exit 1 ;; esac
fi
if [ -z "$arch" ]; then
  case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac
fi
grep -q "_${os}_${arch}\.tar\.gz" "$manifest" || { echo "$manifest has no platform ${os}/${arch}" >&2; exit 2; }

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
awk -v version="$version" -v archive="_${os}_${arch}.tar.gz" -v sha="$sha" '
  { gsub(/v[0-9]+\.[0-9]+\.[0-9]+/, version) }
  /uri:/ { hit = index($0, archive) > 0 }
  /sha256:/ && hit { sub(/"[0-9a-f]*"/, "\"" sha "\""); hit = 0 }
  { print }
' "$manifest" > "$stage/ceph-image.yaml"
mv "$stage/ceph-image.yaml" "$out/ceph-image.yaml"
echo "$out/$name.tar.gz $sha"
echo "$out/ceph-image.yaml"
zeros="$(printf '0%.0s' $(seq 64))"
placeholders="$(awk -v zero="\"$zeros\"" '/uri:/ { uri = $2 } /sha256:/ && index($0, zero) { print uri }' "$out/ceph-image.yaml")"
if [ -n "$placeholders" ]; then
  echo "still the placeholder sha256 (build and run this script for them before publishing):" >&2
  echo "$placeholders" | sed 's/^/  /' >&2
fi
