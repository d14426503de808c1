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
# The management API's bearer token: OPTCAST_ADMIN_TOKEN if set, else the
# one kept in .local/admin-token, else a new random one. The token in force
# is written there (owner-only) and printed, so a second shell can read it:
#   export OPTCAST_ADMIN_TOKEN=$(cat .local/admin-token)
OPTCAST_ADMIN_TOKEN="$(infra/admin-token.sh .local/admin-token)"
export OPTCAST_ADMIN_TOKEN
if [[ "${OPTCAST_SIGN_IN:-}" == "oidc" ]]; then
  # The emulated JWT authorizer guards the API: the admin token is refused,
  # so it is not printed; the console signs in through the fake provider.
  echo "==> console: http://127.0.0.1:${PORT:-3000}/console (sign in through the fake OIDC provider; the admin token is off)" >&2
else
  echo "==> management API token (OPTCAST_ADMIN_TOKEN, also in .local/admin-token): $OPTCAST_ADMIN_TOKEN" >&2
  echo "==> console: http://127.0.0.1:${PORT:-3000}/console (sign in with that token)" >&2
fi
# OPTCAST_LOCAL_BIN: an optcast-local binary already built (the README test
# passes the one cargo built with the suite), so nothing is rebuilt.
local_bin="${OPTCAST_LOCAL_BIN:-target/debug/optcast-local}"
if [[ -z "${OPTCAST_LOCAL_BIN:-}" ]]; then
  cargo build --bin optcast-local
fi
emu_pid="$(infra/emulator.sh)"
cleanup() { [[ -n "$emu_pid" ]] && kill "$emu_pid" 2>/dev/null || true; }
trap cleanup EXIT
# The stack runs in the background so that a SIGTERM to this script (a
# supervisor, `timeout`, `kill`) reaches it too: bash runs no trap while a
# foreground command runs. It stops cleanly on SIGINT or SIGTERM. The trap
# is set first: a signal before the stack starts stops this script alone.
local_pid=""
stop() {
  if [[ -n "$local_pid" ]]; then kill -TERM "$local_pid" 2>/dev/null || true; else exit 143; fi
}
trap stop INT TERM
OPTCAST_ROOT="$root" OPTCAST_RETRY_VISIBILITY_SECS="${OPTCAST_RETRY_VISIBILITY_SECS:-5}" "$local_bin" &
local_pid=$!
# `wait` returns early when a trapped signal arrives: wait until it is
# down, then once more for its own exit status (bash keeps a reaped
# child's), so this script ends as the stack did.
while kill -0 "$local_pid" 2>/dev/null; do
  wait "$local_pid" || true
done
status=0
wait "$local_pid" || status=$?
exit "$status"
