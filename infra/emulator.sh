#!/usr/bin/env bash
# Starts the AWS API emulator (moto server, pinned in .venv) at
# AWS_ENDPOINT_URL (default http://127.0.0.1:4566) unless one already answers
# there. Prints the PID it started (empty if it reused a running one).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
endpoint="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
hostport="${endpoint#*://}"; hostport="${hostport%%/*}"
host="${hostport%:*}"; port="${hostport##*:}"
# One script at a time looks and starts (two `make dev` at once would each
# start one on the same port); the emulator itself does not hold the lock.
mkdir -p "$root/.local"
exec 9>"$root/.local/emulator.lock"
flock 9
if curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null; then
  echo "==> reusing the emulator already at $endpoint" >&2
  exit 0
fi
"$root/infra/venv.sh"
"$root/.venv/bin/moto_server" -H "$host" -p "$port" > "$root/.local/emulator.log" 2>&1 9>&- &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null; then
    echo "==> emulator (moto server) at $endpoint, pid $pid, log .local/emulator.log" >&2
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.2
done
echo "emulator did not start; see .local/emulator.log" >&2
cat "$root/.local/emulator.log" >&2 || true
exit 1
