# shellcheck shell=bash
# Sourced by the fault scripts: sets LOGHOGD to the binary to test, by
# default a release build made here once (cargo build --release --locked).
if [[ -z "${LOGHOGD:-}" ]]; then
    cargo build --quiet --release --locked -p loghog-daemon -p loghog-cli
    LOGHOGD="${CARGO_TARGET_DIR:-target}/release/loghogd"
fi
LOGHOGD=$(realpath "$LOGHOGD")
export LOGHOGD
