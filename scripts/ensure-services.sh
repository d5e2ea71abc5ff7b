#!/usr/bin/env bash
# Start the local PostgreSQL the tests use if it is down (Debian's cluster tools), then wait for it.
set -euo pipefail
host=${FABCOORD_TEST_PG_HOST:-127.0.0.1}
port=${FABCOORD_TEST_PG_PORT:-5432}
if ! pg_isready -q -h "$host" -p "$port"; then
  echo "PostgreSQL on $host:$port is down: starting it" >&2
  version=$(ls /etc/postgresql | sort -n | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h "$host" -p "$port" && exit 0
  sleep 1
done
echo "PostgreSQL on $host:$port did not come up" >&2
exit 1
