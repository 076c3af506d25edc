# Starts the database servers the SQL and Redis tests use, on 127.0.0.1, and exports where they are (and installs
# libfaketime, which the file lock's clock test preloads into one process, and Chromium, for the browser tests):
#   source scripts/test-servers.sh && pnpm test
# PostgreSQL: the Debian cluster (pg_ctlcluster), a fresh database per run. Redis: installed with apt-get if missing,
# started without persistence on a free port. Needs root (or sudo rights) for both; CI runs it as root.
# The Redis server it starts runs until `stop_test_servers` (which .ci/run calls on exit).

_tr_log() { echo "--- test servers: $*" >&2; }

_tr_postgres() {
  if [ -n "${TOKEN_REFRESHER_PG_URL:-}" ]; then return 0; fi
  local version
  version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
  if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    _tr_log "PostgreSQL is not installed: the PostgreSQL tests will be skipped"
    return 0
  fi
  if ! pg_lsclusters -h 2>/dev/null | grep -q " online"; then
    _tr_log "starting PostgreSQL $version"
    pg_ctlcluster "$version" main start || { _tr_log "PostgreSQL did not start"; return 0; }
  fi
  local port db
  port=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $3; exit }' || true)
  if [ -z "$port" ]; then
    _tr_log "PostgreSQL is not online"
    return 0
  fi
  db="token_refresher_test_$(date +%s)_$$"
  su postgres -c "psql -q -p $port -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null &&
    su postgres -c "psql -q -p $port -c \"CREATE DATABASE $db\"" >/dev/null || {
    _tr_log "could not prepare a database"
    return 0
  }
  export TOKEN_REFRESHER_PG_URL="postgres://postgres:postgres@127.0.0.1:$port/$db"
  _tr_log "PostgreSQL at $TOKEN_REFRESHER_PG_URL"
}

_tr_redis() {
  if [ -n "${TOKEN_REFRESHER_REDIS_URL:-}" ]; then return 0; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    _tr_log "installing redis-server"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 || {
      _tr_log "redis-server could not be installed: the Redis tests will be skipped"
      return 0
    }
  fi
  local port
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' || true)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --pidfile "/tmp/token-refresher-redis-$port.pid" --logfile "/tmp/token-refresher-redis-$port.log" >/dev/null || {
    _tr_log "redis-server did not start"
    return 0
  }
  export TOKEN_REFRESHER_REDIS_URL="redis://127.0.0.1:$port"
  export TOKEN_REFRESHER_REDIS_PIDFILE="/tmp/token-refresher-redis-$port.pid"
  # the daemon writes its pid file just after it forks: wait for it, so that stop_test_servers can find it
  for _ in $(seq 50); do [ -f "$TOKEN_REFRESHER_REDIS_PIDFILE" ] && break; sleep 0.1; done
  _tr_log "Redis at $TOKEN_REFRESHER_REDIS_URL"
}

_tr_faketime() {
  # libfaketime moves one process's clock, for the file lock's clock test (Debian's faketime package)
  if [ -n "$(ls /usr/lib/*-linux-gnu/faketime/libfaketime.so.1 2>/dev/null)" ]; then return 0; fi
  _tr_log "installing faketime"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime) >/dev/null 2>&1 ||
    _tr_log "faketime could not be installed: the file lock's clock test will be skipped"
}

_tr_chromium() {
  # Debian's Chromium, for the browser package's tests (driven by playwright-core; nothing downloads a browser)
  if [ -x /usr/bin/chromium ]; then return 0; fi
  _tr_log "installing chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 ||
    _tr_log "chromium could not be installed: the browser tests will be skipped"
}

# Stops the Redis server this script started (PostgreSQL is the system's cluster and stays up).
stop_test_servers() {
  if [ -n "${TOKEN_REFRESHER_REDIS_PIDFILE:-}" ] && [ -f "$TOKEN_REFRESHER_REDIS_PIDFILE" ]; then
    kill "$(cat "$TOKEN_REFRESHER_REDIS_PIDFILE")" 2>/dev/null || true
  fi
}

_tr_postgres
_tr_redis
_tr_faketime
_tr_chromium
