#!/usr/bin/env bash
# Runs the Python client's tests (python/tests) against a real loghogd.
#
# Builds the user's wheel once per run with scripts/build-wheel.sh (release,
# abi3, manylinux2014, checked by auditwheel), installs it into a virtual
# environment under target/py-venv with pytest, and runs pytest. The same
# wheel, named in $LOGHOG_WHEEL, is what test_wheel_install.py installs
# into a fresh venv with no Rust on PATH.
#
# LOGHOG_WHEEL=path reuses a wheel already built (no build at all).
# LOGHOG_PY_INSTALL=source tests `pip install ./python` (the fallback that
# compiles; LOGHOG_PY_PROFILE=dev by default) instead of the wheel, and
# skips the wheel-install tests unless LOGHOG_WHEEL is set.
# Needs Rust, Python >= 3.9 with venv and pip, and the package indexes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

python=${PYTHON:-python3}
venv=${LOGHOG_PY_VENV:-$root/target/py-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest

# pytest's conftest builds loghogd itself; doing it first keeps its output
# (and any compile error) out of the test report.
cargo build --quiet --locked -p loghog-daemon --bin loghogd

case "${LOGHOG_PY_INSTALL:-wheel}" in
    wheel)
        if [ -z "${LOGHOG_WHEEL:-}" ]; then
            LOGHOG_WHEEL=$(PYTHON="$python" scripts/build-wheel.sh | tail -n 1)
        fi
        export LOGHOG_WHEEL
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --force-reinstall --no-deps "$LOGHOG_WHEEL"
        ;;
    source)
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2"
        MATURIN_PEP517_ARGS="--profile ${LOGHOG_PY_PROFILE:-dev}" \
            "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --force-reinstall --no-deps ./python
        ;;
    *)
        echo "LOGHOG_PY_INSTALL must be wheel or source" >&2
        exit 2
        ;;
esac

# Run from outside python/ so that the installed package, not the source
# tree, is what the tests import.
cd "$root/python/tests"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .
