#!/bin/sh
# After installing or upgrading: a system user for serve, the state
# directory, and systemd told about the unit. The service is not started:
# set the upstream in /etc/maintenance/maintenance.conf first, then
# "systemctl enable --now maintenance".
set -e
if ! getent group maintenance >/dev/null; then
  groupadd --system maintenance
fi
if ! getent passwd maintenance >/dev/null; then
  useradd --system --gid maintenance --home-dir /var/lib/maintenance --no-create-home \
    --shell /usr/sbin/nologin --comment "maintenance gate" maintenance
fi
install -d -m 0750 -o maintenance -g maintenance /var/lib/maintenance
chown root:maintenance /etc/maintenance/maintenance.conf
chmod 0640 /etc/maintenance/maintenance.conf
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  # An upgrade restarts a running service with the new binary.
  if systemctl is-active --quiet maintenance; then
    systemctl try-restart maintenance || true
  fi
fi
exit 0
