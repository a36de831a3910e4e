# Sourced by the scripts that need a throwaway PostgreSQL server (tests, benchmarks).
# start_postgres DIR: starts one with its data under DIR and sets POSTGRES_URL; stop_postgres DIR stops it.

# PostgreSQL refuses to run as root: run its tools as the postgres user when we are root.
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

postgres_bin() { dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"; }

start_postgres() {
  local dir=$1 bin port
  bin=$(postgres_bin)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_postgres "$bin/initdb" -D "$dir/data" --auth=trust -U postgres >/dev/null
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
  POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
  [ -d "$1/data" ] && as_postgres "$(postgres_bin)/pg_ctl" -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
}
