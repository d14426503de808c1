.PHONY: dev test lint bench

## Start the whole system locally: emulator on :4566, functions on :3000.
dev:
	infra/dev.sh

## Run the full test suite (unit, property, integration, cfn-lint).
test:
	infra/test.sh

## fmt + clippy, as CI gates them.
lint:
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings

## Criterion hot-path benches, then the webhook hot path against the Python
## baseline (../shared/bench/webhook_baseline.py), side by side, with the ratio.
bench:
	cargo bench -p optcast-shared
	cargo run --release -p optcast-local --bin webhook-bench
