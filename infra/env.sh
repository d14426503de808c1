# Sourced by the dev and test scripts: local defaults, never real secrets.
export AWS_REGION="${AWS_REGION:-us-west-2}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
# The emulator accepts any credentials; these are placeholders, not secrets.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
export AWS_EC2_METADATA_DISABLED=true
