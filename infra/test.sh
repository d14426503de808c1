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
# The console's browser tests drive Debian's chromium; without it they fail
# and say so (this only installs it when missing).
infra/browser.sh || echo "==> chromium could not be installed: the browser tests will fail" >&2
echo "==> cargo test" >&2
mkdir -p .local
status=0
# The README walkthrough (cli/tests/readme.rs) runs `make dev` on the
# target/debug/optcast-local binary, which `cargo test` builds only as a test
# harness: build every target first (same features, so the tests reuse it).
{ cargo build --workspace --all-targets && cargo test --workspace --all-targets "$@"; } 2>&1 | tee .local/test-output.log || status=$?
# One closing line for the whole run (cargo prints one per test binary).
passed=$(grep -oE 'test result: [A-Za-z]+\. [0-9]+ passed' .local/test-output.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed;' .local/test-output.log | awk '{s+=$1} END {print s+0}')
echo "total: $passed passed, $failed failed"
exit "$status"
