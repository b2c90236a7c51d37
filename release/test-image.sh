#!/usr/bin/env bash
# Builds the container image from the repository's Dockerfile with podman
# and checks it: it runs, as a non-root user, without a shell, and serves
# the demo with its gate working.
#
# The Dockerfile's first stage needs a Go toolchain image. Where no image
# registry is reachable (as on the CI machine), this script makes one from
# the machine's own Go toolchain and a static busybox for /bin/sh, and
# passes it as BUILDER; modules come from the machine's module cache.
# Anywhere else: podman build -t maintenance . (or docker build).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "test-image.sh: FAIL: $*" >&2; exit 1; }
command -v podman >/dev/null || fail "podman is not installed"
# This machine (a container itself) lets podman build with chroot isolation
# and run with runc over cgroupfs, within its own resource limits.
podman() { command podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
# (podman's defaults raise them, which this machine refuses; lower ones pass.)
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

work=$(mktemp -d)
name="maintenance-ci-$$"
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman rmi -f localhost/maintenance:ci localhost/maintenance-go-builder:ci >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

builder=docker.io/library/golang:1.26
args=()
if ! podman image exists "$builder" && ! timeout 20 podman pull -q "$builder" >/dev/null 2>&1; then
  mkdir -p "$work/root/bin" "$work/root/etc/ssl/certs" "$work/root/tmp"
  cp /bin/busybox "$work/root/bin/busybox"
  for a in sh mkdir echo cat ls rm cp; do ln -s busybox "$work/root/bin/$a"; done
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/"
  cat > "$work/Containerfile" <<'EOC'
FROM scratch
COPY root/ /
ENV PATH=/usr/local/go/bin:/bin HOME=/tmp GOPATH=/tmp/go GOCACHE=/tmp/gocache GOMODCACHE=/tmp/gomod GOTOOLCHAIN=local
EOC
  podman build -q --isolation chroot -t localhost/maintenance-go-builder:ci "$work" >/dev/null
  builder=localhost/maintenance-go-builder:ci
  # The machine's build cache too: what release/build.sh compiled is reused.
  args+=(--volume "$(go env GOROOT):/usr/local/go:ro" --volume "$(go env GOMODCACHE):/hostmod:ro"
    --volume "$(go env GOCACHE):/tmp/gocache"
    --env "GOPROXY=file:///hostmod/cache/download,$(go env GOPROXY)")
fi

commit=$(git rev-parse HEAD)
podman build -q --isolation chroot "${args[@]}" --build-arg BUILDER="$builder" \
  --build-arg VERSION=ci --build-arg COMMIT="$commit" --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t localhost/maintenance:ci . >/dev/null
echo "built localhost/maintenance:ci: $(podman image inspect -f '{{.Size}}' localhost/maintenance:ci) bytes"

[ "$(podman image inspect -f '{{.Config.User}}' localhost/maintenance:ci)" = 65532:65532 ] || fail "the image does not run as 65532"
podman run "${limits[@]}" --rm localhost/maintenance:ci version | grep -q "^commit   $commit" || fail "version does not name the commit"
if podman run "${limits[@]}" --rm --entrypoint /bin/sh localhost/maintenance:ci -c true >/dev/null 2>&1; then
  fail "the image has a shell"
fi
[ "$(podman run "${limits[@]}" --rm localhost/maintenance:ci version --json | grep -o '"version": *"[^"]*"')" != "" ] || fail "version --json"

port=$((30000 + RANDOM % 10000))
podman run "${limits[@]}" -d --name "$name" --network host localhost/maintenance:ci serve --listen "127.0.0.1:$port" --demo >/dev/null
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/_maintenance/health" >/dev/null && break
  sleep 0.1
done
code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/"; }
[ "$(code)" = 200 ] || { podman logs "$name" >&2; fail "the demo does not answer"; }
podman exec "$name" /usr/bin/maintenance on --reason "image test" >/dev/null
[ "$(code)" = 503 ] || fail "on in the container did not reach serve"
podman exec "$name" /usr/bin/maintenance off >/dev/null
[ "$(code)" = 200 ] || fail "off in the container did not reach serve"
echo "test-image.sh: ok: built from the Dockerfile, non-root, no shell, serves and switches"
