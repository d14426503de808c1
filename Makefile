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

bench:
	cargo bench -p optcast-shared
