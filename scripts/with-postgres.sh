#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server, its URL exported as
# W2S_TEST_POSTGRES_URL (superuser `w2s`, database `postgres`, trust auth on
# 127.0.0.1 only). Installs Debian's `postgresql` package when initdb is
# missing (CI runs as root). The cluster lives in a temporary directory and
# is stopped and removed when the command ends.
#
#   scripts/with-postgres.sh cargo test --test all service_pg
set -euo pipefail

pg_bin() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    else
        ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
    fi
}

BIN=$(pg_bin)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    echo "with-postgres: installing the postgresql package" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    BIN=$(pg_bin)
fi

DIR=$(mktemp -d /tmp/w2s-pg.XXXXXX)
# initdb refuses to run as root: the cluster belongs to `postgres`.
if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$DIR"
    as_owner() { runuser -u postgres -- "$@"; }
else
    as_owner() { "$@"; }
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 20000))
}
PORT=$(free_port)

stop() {
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap stop EXIT

as_owner "$BIN/initdb" -D "$DIR/data" -U w2s --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null \
    || { cat "$DIR/server.log" >&2; exit 1; }

export W2S_TEST_POSTGRES_URL="postgres://w2s@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') at $W2S_TEST_POSTGRES_URL" >&2
"$@"
