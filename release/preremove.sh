#!/bin/sh
# Before removing (not before an upgrade): stop and disable the service. The
# store in /var/lib/maintenance and the maintenance user are kept.
set -e
case "$1" in
  remove|purge|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now maintenance >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
