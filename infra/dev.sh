#!/usr/bin/env bash
# `make dev`: emulator + the local stack on 127.0.0.1:${PORT:-3000}. Ctrl-C stops both.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source infra/env.sh
if [[ -z "${META_APP_SECRET:-}" ]]; then
  # A per-run random secret: sign local test deliveries with it (printed once).
  META_APP_SECRET="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "==> META_APP_SECRET not set; using a random one for this run: $META_APP_SECRET" >&2
fi
export META_APP_SECRET
export META_VERIFY_TOKEN="${META_VERIFY_TOKEN:-optcast-local-verify}"
cargo build --bin optcast-local
emu_pid="$(infra/emulator.sh)"
cleanup() { [[ -n "$emu_pid" ]] && kill "$emu_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
OPTCAST_ROOT="$root" OPTCAST_RETRY_VISIBILITY_SECS="${OPTCAST_RETRY_VISIBILITY_SECS:-5}" target/debug/optcast-local
