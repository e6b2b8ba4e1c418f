#!/usr/bin/env bash
# Builds mcpops and starts the dashboard on embedded SQLite (./data/) with the built-in demo fleet.
# Extra arguments go to `mcpops demo`, e.g. --servers 30 --fault demo-03=down
source "$(dirname "$0")/lib.sh"

ensure_build_tools
build_release
step "starting mcpops with the demo fleet (Ctrl-C stops it)"
export MCPOPS__SERVER__SITE_ROOT="${MCPOPS__SERVER__SITE_ROOT:-$REPO/target/site}"
exec "$REPO/target/release/mcpops" demo "$@"
