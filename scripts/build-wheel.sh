#!/usr/bin/env bash
# Builds the Python package `loghog` for users who have no Rust: one abi3
# wheel (CPython >= 3.9) with a manylinux2014 tag (glibc >= 2.17) and the
# sdist, into target/wheels/.
#
# The old-glibc tag comes from linking with zig (the `ziglang` package from
# PyPI) against glibc 2.17 symbols, so no manylinux container is needed;
# `auditwheel show` then checks that the wheel keeps to the policy its tag
# claims. Build tools go in a venv under target/ (PyPI only). Needs Rust
# >= 1.85, Python >= 3.9 with venv and pip.
#
# Prints the wheel's path as its last line. LOGHOG_BUILD_VENV, PYTHON and
# CARGO_TARGET_DIR override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

python=${PYTHON:-python3}
venv=${LOGHOG_BUILD_VENV:-$root/target/build-venv}
out=$root/target/wheels
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.7,<2" "ziglang>=0.13,<0.18" "auditwheel>=6,<7"
# maturin looks for zig as `python -m ziglang` with the python on PATH.
export PATH="$venv/bin:$PATH"

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
    *-linux-gnu) ;;
    *) echo "build-wheel.sh: manylinux wheels are built on Linux (glibc); host is $host" >&2
       exit 1 ;;
esac

mkdir -p "$out"
rm -f "$out"/loghog-*.whl "$out"/loghog-*.tar.gz

# Only the wheel's path goes to stdout.
maturin build --quiet --release --zig --compatibility manylinux2014 \
    --locked --target "$host" -m python/Cargo.toml --out "$out" >&2
maturin sdist -m python/Cargo.toml --out "$out" >&2

shopt -s nullglob
wheels=("$out"/loghog-*-cp39-abi3-manylinux*.whl)
sdists=("$out"/loghog-*.tar.gz)
if [ ${#wheels[@]} -ne 1 ] || [ ${#sdists[@]} -ne 1 ]; then
    echo "build-wheel.sh: expected one abi3 manylinux wheel and one sdist in $out:" >&2
    ls -l "$out" >&2
    exit 1
fi
wheel=${wheels[0]}

# auditwheel must find the wheel consistent with a platform tag the wheel
# carries (no newer glibc symbols, no libraries outside the manylinux set).
report=$(auditwheel show "$wheel")
consistent=$(tr '\n' ' ' <<<"$report" |
    sed -n 's/.*consistent with the following platform tag: *"\([^"]*\)".*/\1/p')
tags=$(basename "$wheel" .whl | sed 's/.*-abi3-//' | tr '.' ' ')
if [ -z "$consistent" ] || ! grep -qw -- "$consistent" <<<"$tags"; then
    echo "build-wheel.sh: auditwheel does not accept $wheel (tags: $tags):" >&2
    echo "$report" >&2
    exit 1
fi
echo "build-wheel.sh: auditwheel accepts $(basename "$wheel") as $consistent" >&2
echo "$wheel"
