#!/usr/bin/env bash
# Builds the .deb, installs it with dpkg on this machine, and runs the
# installed binary as the packaged systemd unit would: as the maintenance
# user, with the installed configuration, in front of a real upstream. Then
# the CLI, with nothing but the installed configuration to find the store,
# switches maintenance on and off. The package is purged at the end.
# Run by .ci/run as root; it changes the machine (a package, a user).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test-deb.sh: must run as root (dpkg -i)" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dpkg --purge maintenance >/dev/null 2>&1 || true
  userdel maintenance >/dev/null 2>&1 || true
  groupdel maintenance >/dev/null 2>&1 || true
  rm -rf /var/lib/maintenance /etc/maintenance "$work"
}
trap cleanup EXIT
fail() { echo "test-deb.sh: FAIL: $*" >&2; exit 1; }

release/build.sh --targets linux/amd64 --packages deb --out "$work/dist" >/dev/null
deb=$(ls "$work"/dist/*.deb)
echo "built $(basename "$deb")"
(cd "$work/dist" && sha256sum -c --quiet SHA256SUMS) || fail "checksums do not match"

# What the package holds.
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/maintenance ./usr/lib/systemd/system/maintenance.service ./etc/maintenance/maintenance.conf ./usr/share/doc/maintenance/LICENSE ./usr/share/doc/maintenance/docs/cli.md; do
  grep -q " $f\$" <<<"$contents" || fail "the package has no $f"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/maintenance/maintenance.conf || fail "the config is not a conffile"

dpkg -i "$deb" >/dev/null
getent passwd maintenance >/dev/null || fail "no maintenance user"
[ "$(stat -c %U:%a /var/lib/maintenance)" = maintenance:750 ] || fail "/var/lib/maintenance: $(stat -c %U:%a /var/lib/maintenance)"
[ "$(stat -c %U:%G:%a /etc/maintenance/maintenance.conf)" = root:maintenance:640 ] || fail "config: $(stat -c %U:%G:%a /etc/maintenance/maintenance.conf)"
command -v systemd-analyze >/dev/null && systemd-analyze verify /usr/lib/systemd/system/maintenance.service

/usr/bin/maintenance version | tee "$work/version"
grep -q '^maintenance 0.0.0~git' "$work/version" || fail "version is not the release's"
grep -q '^stores   sqlite schema [1-9]' "$work/version" || fail "no store layouts in version"

# The installed configuration, as the unit runs it, with a real upstream
# on free ports (the shipped config's ports may be taken on this machine).
go build -o "$work/upstream" ./bench/upstream
up=$((20000 + RANDOM % 10000)); port=$((up + 1))
"$work/upstream" -listen "127.0.0.1:$up" &
pids+=($!)
runuser -u maintenance -- /usr/bin/maintenance serve --config /etc/maintenance/maintenance.conf \
  --listen "127.0.0.1:$port" --upstream "http://127.0.0.1:$up" 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/_maintenance/health" >/dev/null && break
  sleep 0.1
done
code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/"; }
[ "$(code)" = 200 ] || { cat "$work/serve.log" >&2; fail "serve does not pass to the upstream"; }
[ -f /var/lib/maintenance/maintenance.db ] || fail "serve did not create the store named by the installed config"

# The CLI finds the store through /etc/maintenance/maintenance.conf alone.
cd "$work"
runuser -u maintenance -- env -u MAINTENANCE_STORE /usr/bin/maintenance on --reason "package test"
[ "$(code)" = 503 ] || fail "on did not reach serve"
runuser -u maintenance -- env -u MAINTENANCE_STORE /usr/bin/maintenance off
[ "$(code)" = 200 ] || fail "off did not reach serve"
runuser -u maintenance -- env -u MAINTENANCE_STORE /usr/bin/maintenance log --limit 2 | grep -q "package test" || fail "the log misses the change"
echo "test-deb.sh: ok: installed, served, switched on and off with the installed configuration"
