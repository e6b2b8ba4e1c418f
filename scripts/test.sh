#!/usr/bin/env bash
# Installs what the tests need, then runs every check: format, lints (server and WASM),
# unit and integration tests on SQLite and PostgreSQL, the release build, and the browser tests.
source "$(dirname "$0")/lib.sh"

PG_ROLE=mcpops_test
PG_PASSWORD=mcpops_test
export MCPOPS_TEST_POSTGRES="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:5432/postgres"

drop_stale_test_databases() {
  local stale
  stale="$(as_root su postgres -c "psql -Atqc \"SELECT datname FROM pg_database WHERE datname LIKE 'mcpops_t_%'\"")"
  for db in $stale; do
    as_root su postgres -c "psql -qc 'DROP DATABASE IF EXISTS $db WITH (FORCE)'"
  done
}

ensure_postgres() {
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    local cluster
    cluster="$(pg_lsclusters --no-header | awk 'NR == 1 { print $1, $2 }')"
    step "starting PostgreSQL $cluster"
    # shellcheck disable=SC2086 # "version name" are two arguments
    as_root pg_ctlcluster --skip-systemctl-redirect $cluster start
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  as_root su postgres -c "psql -q -v ON_ERROR_STOP=1" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  # Databases left behind by a test run that was killed.
  drop_stale_test_databases
}

ensure_browser() {
  command -v chromium >/dev/null || apt_install chromium
  ensure_node
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    step "installing the end2end npm packages"
    # The browser is Debian's Chromium; Playwright must not try to download its own.
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
}

# Python servers for tests, in a venv of the project's own: the reference MCP SDK (the
# interoperability test) and aiosmtpd (the SMTP server email channels send to).
PYTHON_MCP_VERSION=2.3.0
AIOSMTPD_VERSION=1.4.6
ensure_python_servers() {
  local venv="$REPO/.tools/venv"
  if ! "$venv/bin/python" -c "import mcp, aiosmtpd" 2>/dev/null; then
    step "installing the Python MCP SDK $PYTHON_MCP_VERSION and aiosmtpd $AIOSMTPD_VERSION (for tests)"
    command -v python3 >/dev/null || apt_install python3
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet "mcp==$PYTHON_MCP_VERSION" "aiosmtpd==$AIOSMTPD_VERSION"
  fi
  export MCPOPS_TEST_PYTHON="$venv/bin/python"
}

# The reference TypeScript server, for the interoperability test, pinned and kept in .tools.
EVERYTHING_VERSION=2026.8.31
ensure_server_everything() {
  local dir="$REPO/.tools/server-everything"
  local entry="$dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
  if ! grep -q "\"version\": \"$EVERYTHING_VERSION\"" "$dir/node_modules/@modelcontextprotocol/server-everything/package.json" 2>/dev/null; then
    step "installing @modelcontextprotocol/server-everything $EVERYTHING_VERSION (for the interoperability test)"
    ensure_node
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION"
  fi
  export MCPOPS_TEST_EVERYTHING="$entry"
}

ensure_build_tools
ensure_postgres
ensure_browser
ensure_python_servers
ensure_server_everything

step "cargo fmt --check"
cargo fmt --check

step "clippy (server)"
cargo clippy --features ssr --all-targets -- -D warnings

step "clippy (browser, wasm32)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

step "unit and integration tests (SQLite and PostgreSQL)"
cargo test --features ssr
drop_stale_test_databases

build_release

# The browser's download: a budget it must stay under (docs/benchmarks.md, first load). It
# moves only with a feature that pays for it, recorded there; the goal is 400 KB.
WASM_GZIP_BUDGET_BYTES=1120000
step "release WASM after gzip -9 (budget $WASM_GZIP_BUDGET_BYTES bytes)"
# The build names the file by its hash (target/release/hash.txt); older builds' files may remain.
wasm_file="target/site/pkg/mcpops.$(awk '$1 == "wasm:" { print $2 }' target/release/hash.txt).wasm"
wasm_gzip_bytes="$(gzip -9 -c "$wasm_file" | wc -c)"
echo "release WASM: $(stat -c %s "$wasm_file") bytes, $wasm_gzip_bytes after gzip -9"
if [ "$wasm_gzip_bytes" -gt "$WASM_GZIP_BUDGET_BYTES" ]; then
  echo "the release WASM grew past its budget" >&2
  exit 1
fi

step "end-to-end tests in headless Chromium (release build)"
(cd end2end && npx playwright test)
