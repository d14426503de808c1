#!/usr/bin/env bash
# Creates .venv with the pinned emulator and linter (infra/requirements.txt).
# Re-runs are cheap: it reinstalls only when the requirements changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/infra/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/moto_server" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "==> installing pinned tools into .venv (moto server, cfn-lint)" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/infra/requirements.txt"
echo "$want" > "$stamp"
