#!/usr/bin/env bash
# Runs the Python client's tests (python/tests) against a real loghogd.
#
# Builds a virtual environment under target/py-venv, installs pytest and
# the package itself with `pip install ./python` (the user's install path;
# the maturin build backend compiles the extension), then runs pytest. The
# extension is built with the dev profile into the workspace's target/ so
# that it reuses the crates `cargo test` already compiled; set
# LOGHOG_PY_PROFILE=release to test an optimised build.
# Needs only Rust, Python >= 3.9 with venv and pip, and the package indexes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

python=${PYTHON:-python3}
venv=${LOGHOG_PY_VENV:-$root/target/py-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "maturin>=1.7,<2" pytest

# pytest's conftest builds loghogd itself; doing it first keeps its output
# (and any compile error) out of the test report.
cargo build --quiet -p loghog-daemon --bin loghogd

profile=${LOGHOG_PY_PROFILE:-dev}
MATURIN_PEP517_ARGS="--profile $profile" \
    "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps ./python

# Run from outside python/ so that the installed package, not the source
# tree, is what the tests import.
cd "$root/python/tests"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .
