#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace, then (when the
# Python package is present) the Python client's tests against a real
# loghogd, the PHP client's tests (SKIP without PHP, except on CI), then
# the Debian package (built, linted, and, as root with dpkg, installed,
# exercised, upgraded from the original and purged; otherwise it prints
# SKIP). Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# PHP client (php/): phpunit against the debug loghogd.
scripts/test-php.sh

if [ -f python/pyproject.toml ]; then
    scripts/test-python.sh
fi

scripts/test-deb.sh
