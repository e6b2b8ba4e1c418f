# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, skip what is there.
# Every function is safe to run again.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.5
BINARYEN_NPM_VERSION=132
# wasm-opt older than this produces bundles that render but never hydrate.
WASM_OPT_MIN_VERSION=116

step() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "Rust is missing: install rustup from your package manager first." >&2; exit 1; }
  # rust-toolchain.toml pins the toolchain; rustup fetches it and the wasm32 target when missing.
  rustup show active-toolchain >/dev/null
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
}

locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$REPO/Cargo.lock"
}

ensure_cargo_leptos() {
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    step "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 12 minutes, once)"
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
  fi
  local want
  want="$(locked_wasm_bindgen_version)"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    step "installing wasm-bindgen-cli $want (must equal the wasm-bindgen in Cargo.lock)"
    # No --locked: the CLI's own lock file names a crate the registry no longer has.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

ensure_node() {
  command -v npm >/dev/null || apt_install nodejs npm
}

ensure_wasm_opt() {
  local have
  # `|| true`: without wasm-opt the pipeline fails, and `set -e` would end the script here.
  have="$( (wasm-opt --version 2>/dev/null || true) | sed -n 's/^wasm-opt version \([0-9]*\).*/\1/p')"
  if [ -z "$have" ] || [ "$have" -lt "$WASM_OPT_MIN_VERSION" ]; then
    ensure_node
    step "installing wasm-opt (binaryen $BINARYEN_NPM_VERSION from npm)"
    as_root npm install -g "binaryen@$BINARYEN_NPM_VERSION"
  fi
}

ensure_build_tools() {
  ensure_rust
  ensure_cargo_leptos
  ensure_wasm_opt
}

build_release() {
  step "building the release site (server + WASM, wasm-opt applied)"
  # --precompress: gzip and brotli copies of each asset, served to browsers that accept them.
  cargo leptos build --release --precompress
}
