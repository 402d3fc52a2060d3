#!/usr/bin/env bash
# Thin wrapper: run the local stack CLI (tools/devstack) from anywhere in the checkout.
#   scripts/stack.sh up | down | status | env        e.g.  eval "$(scripts/stack.sh up)"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec uv run --quiet byosms-stack "$@"
