#!/usr/bin/env bash
# `make test`: the whole suite against a real AWS-protocol emulator, plus
# cfn-lint on template.yaml. Starts (and stops) an emulator if none is running.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source infra/env.sh
infra/venv.sh
emu_pid="$(infra/emulator.sh)"
cleanup() { [[ -n "$emu_pid" ]] && kill "$emu_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
echo "==> cfn-lint template.yaml" >&2
infra/lint-template.sh
echo "==> cargo test" >&2
cargo test --workspace --all-targets "$@"
