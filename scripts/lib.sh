# Shared by scripts/quickstart and scripts/test. Sourced, not run.

# Debian 12 packages Usher needs to build and run.
BUILD_PACKAGES="g++ cmake ninja-build pkg-config libboost1.81-dev libssl-dev libpg-query-dev
  libprotobuf-c-dev libhiredis-dev libspdlog-dev libfmt-dev postgresql-15 postgresql-contrib
  libjs-chart.js"
# Extra packages for the test tiers (real peers and clients, fuzzing, format).
# The second line: drivers of other languages for tests/integration/test_clients.py
# (Node and npm are not Debian's: see ensure_node_clients). The third:
# pg_regress, the server headers, make and dpkg-source for
# tests/integration/test_regress.py (see scripts/regress-suite). The fourth:
# promtool and a real Prometheus, and headless Chromium, for the HTTP
# endpoint's tests (tests/integration/test_http.py, test_dashboard.py).
TEST_PACKAGES="libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format
  pgbouncer redis-server python3-pytest python3-psycopg python3-psycopg2 python3-asyncpg
  default-jdk-headless libpostgresql-jdbc-java golang-go golang-github-jackc-pgx-v4-dev ruby ruby-pg
  postgresql-server-dev-15 make dpkg-dev openssl
  prometheus curl chromium"

# Installs whatever of the given packages is missing (apt-get only when needed).
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# npm packages of tests/clients/node (node-postgres, postgres.js), from its
# package-lock.json; only when node_modules is missing or older than the lock.
ensure_node_clients() {
  local dir=tests/clients/node
  command -v npm >/dev/null || { echo "== npm not found: the Node driver tests will be skipped"; return 0; }
  if [ ! -f $dir/node_modules/.package-lock.json ] ||
     [ $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]; then
    echo "== npm ci ($dir)"
    (cd $dir && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

PG_BIN=/usr/lib/postgresql/15/bin
