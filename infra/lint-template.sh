#!/usr/bin/env bash
# cfn-lint on template.yaml, with the pinned linter from .venv when present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lint="$root/.venv/bin/cfn-lint"
[[ -x "$lint" ]] || lint="cfn-lint"
"$lint" --regions us-west-2 -- "$root/template.yaml"
