.PHONY: dev test lint bench size

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
## Then every function's cold start against a Rust hello-world Lambda
## (infra/local/src/bin/coldstart-bench.rs), with the ratio and peak RSS.
FUNCTIONS := webhook ingest planner sender api scheduler eraser sweeper
bench:
	cargo bench -p optcast-shared
	cargo run --release -p optcast-local --bin webhook-bench
	cargo build --release --workspace $(FUNCTIONS:%=--bin %) --bin coldstart-hello --bin coldstart-bench
	target/release/coldstart-bench

## Every function's arm64 Lambda bootstrap (cargo-lambda from .venv-lambda),
## with its size; issue 15 asks for at most 10 MB each.
size:
	infra/lambda-build.sh
