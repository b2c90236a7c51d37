#!/usr/bin/env bash
# Builds a release into dist/ (or --out DIR): static binaries for Linux and
# macOS on amd64 and arm64 as .tar.gz archives, .deb and .rpm packages for
# Linux (nfpm, from the Go module proxy), and SHA256SUMS.
#
#   release/build.sh                      # every target and package
#   release/build.sh --targets linux/amd64 --packages deb   # what CI builds
#
# The build is reproducible: the same commit gives the same bytes. Every
# timestamp is the commit's time (SOURCE_DATE_EPOCH), paths are trimmed,
# the Go build ID is empty, and archives are written in a fixed order and
# owner. The version is the tag on the commit (v1.2.3), else
# 0.0.0~gitYYYYMMDD.SHA; VERSION=... overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."

targets="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"
packages="deb rpm"
out=dist
nfpm_version=v2.48.0
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) targets="$2"; shift 2 ;;
    --packages) packages="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1; accepted: --targets LIST, --packages deb|rpm|none, --out DIR" >&2; exit 2 ;;
  esac
done
[ "$packages" = none ] && packages=""
for p in $packages; do
  case "$p" in deb|rpm) ;; *) echo "build.sh: package type $p: accepted: deb, rpm, none" >&2; exit 2 ;; esac
done

commit=$(git rev-parse HEAD)
dirty=""
[ -n "$(git status --porcelain --untracked-files=no)" ] && dirty="+dirty"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
if [ -z "${VERSION:-}" ]; then
  if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
    VERSION=$tag
  else
    VERSION="0.0.0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).${commit:0:12}"
  fi
fi
pkgversion=${VERSION#v}

rm -rf "$out"
mkdir -p "$out"
ldflags="-s -w -buildid= -X main.version=$VERSION -X main.commit=$commit$dirty -X main.date=$date"

for target in $targets; do
  goos=${target%/*}; goarch=${target#*/}
  name="maintenance_${pkgversion}_${goos}_${goarch}"
  dir="$out/$name"
  mkdir -p "$dir"
  echo "building $target"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$dir/maintenance" ./cmd/maintenance
  cp -r LICENSE README.md CHANGELOG.md docs "$dir/"
  find "$dir" -exec touch -d "@$SOURCE_DATE_EPOCH" {} +
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$out" -cf - "$name" | gzip -9n > "$out/$name.tar.gz"

  if [ "$goos" = linux ] && [ -n "$packages" ]; then
    # nfpm expands variables in some fields only: the binary's path is
    # written into a copy of the configuration.
    sed "s#\${NFPM_BINARY}#$dir/maintenance#" release/nfpm.yaml > "$out/nfpm.yaml"
    for p in $packages; do
      echo "packaging $target as $p"
      NFPM_ARCH=$goarch NFPM_VERSION=$pkgversion \
        go run "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version" package \
          --config "$out/nfpm.yaml" --packager "$p" --target "$out/" >/dev/null
    done
    rm "$out/nfpm.yaml"
  fi
  rm -rf "$dir"
done

(cd "$out" && sha256sum -- *.tar.gz $(ls *.deb *.rpm 2>/dev/null) > SHA256SUMS)
echo "built $VERSION ($commit$dirty, $date) in $out:"
cat "$out/SHA256SUMS"
