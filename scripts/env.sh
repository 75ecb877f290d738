# Sourced by the other scripts: the project's tools on PATH.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PAISA_CHROMIUM="${PAISA_CHROMIUM:-/usr/bin/chromium}"
export LEPTOS_OUTPUT_NAME=paisa  # read at compile time by leptos_config: same value as cargo-leptos sets
