#!/usr/bin/env bash
# Cross-builds every function's Lambda bootstrap for arm64 (what SAM's
# rust-cargolambda build method runs) and prints its size. cargo-lambda and
# zig come from a venv of their own, .venv-lambda (infra/requirements-lambda.txt).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-lambda"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/infra/requirements-lambda.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/cargo-lambda" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "==> installing cargo-lambda and zig into .venv-lambda" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/infra/requirements-lambda.txt"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
# The arm64 standard library, from rustup (cargo-lambda cross-compiles with
# zig as the linker but needs the target's std like any cross build).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "==> adding rustup target aarch64-unknown-linux-gnu" >&2
  rustup target add aarch64-unknown-linux-gnu
fi
cd "$root"
functions=(webhook ingest planner sender api scheduler eraser sweeper)
cargo lambda build --release --arm64 "${functions[@]/#/-p}"
limit=10000000  # 10 MB, decimal: the stricter reading
status=0
for f in "${functions[@]}"; do
  size=$(stat -c %s "target/lambda/$f/bootstrap")
  mark=ok
  if (( size > limit )); then mark="over 10 MB"; status=1; fi
  awk -v f="$f" -v s="$size" -v m="$mark" 'BEGIN { printf "%-10s %10d bytes  %5.2f MB  %s\n", f, s, s / 1e6, m }'
done
exit $status
