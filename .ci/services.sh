#!/usr/bin/env bash
# Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, database `test`) are used for
# real by the tests. Start them if this machine has them installed but stopped; say
# clearly what is missing otherwise.
set -u
ok=1
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    sleep 1
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "MISSING: Redis on 127.0.0.1:6379 (apt-get install redis-server)"; ok=0; }
fi
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1
    sleep 2
  fi
  pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || { echo "MISSING: PostgreSQL on 127.0.0.1:5432 with database 'test' (trust auth)"; ok=0; }
fi
[ "$ok" = 1 ] || exit 1
echo "services: Redis and PostgreSQL are up"
