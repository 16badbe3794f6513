#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1:PORT (trust auth, user agentbus); print its directory.
set -euo pipefail
port=${1:-54329}
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/agentbus-pg.XXXXXX)
chown postgres "$dir"
su postgres -c "$bindir/initdb -D $dir/data -A trust -U agentbus" >/dev/null
su postgres -c "$bindir/pg_ctl -D $dir/data -l $dir/log -w -o '-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off' start" >/dev/null
echo "$dir"
