#!/usr/bin/env bash
# Prints the management API's token for `make dev` and keeps it in FILE
# (owner-only): OPTCAST_ADMIN_TOKEN if set (written to FILE), else the one
# already in FILE, else a new random one.
#
# Any number of `make dev` may start at once from one checkout (the README
# test runs two): a new token is made in a file of this run's own and linked
# into place, which fails if another run got there first; every run then
# prints what FILE holds. Checking and then writing FILE let two runs each
# keep a token of their own, and a walkthrough that read FILE was refused.
set -euo pipefail
file="$1"
mkdir -p "$(dirname "$file")"
umask 077
tmp="$(mktemp "$file.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
if [[ -n "${OPTCAST_ADMIN_TOKEN:-}" ]]; then
  printf '%s\n' "$OPTCAST_ADMIN_TOKEN" > "$tmp"
  mv -f "$tmp" "$file"
elif [[ ! -s "$file" ]]; then
  printf '%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmp"
  # A file left empty (an old crash) is replaced; a token is never.
  [[ -e "$file" && ! -s "$file" ]] && rm -f "$file"
  ln "$tmp" "$file" 2>/dev/null || true
fi
cat "$file"
