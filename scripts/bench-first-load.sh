#!/usr/bin/env bash
# Prints the wall's first-load figures on a throttled link: bytes transferred and time to
# interactive, cold and warm cache (docs/benchmarks.md). Builds the release site first.
source "$(dirname "$0")/lib.sh"
ensure_build_tools
ensure_node
command -v chromium >/dev/null || apt_install chromium
if [ ! -d end2end/node_modules/@playwright/test ]; then
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
build_release
cd end2end && npx playwright test -c bench.config.ts
