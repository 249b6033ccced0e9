#!/usr/bin/env bash
# Runs the PHP client's tests (php/tests, Debian's phpunit) against a real
# loghogd: builds the debug loghogd and the certificate tools first, then
# runs phpunit in php/ (its bootstrap starts the daemon on 127.0.0.1 with
# ports the OS picks). Needs php-cli, php-psr-log, php-monolog and phpunit
# (Debian packages; nothing comes from Packagist).
#
# Without php or phpunit it prints a SKIP line and exits 0, unless CI=true:
# on CI a missing PHP is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

missing=""
command -v php >/dev/null 2>&1 || missing="php"
command -v phpunit >/dev/null 2>&1 || missing="${missing:+$missing }phpunit"
if [ -z "$missing" ] && ! php -r 'exit(is_file("/usr/share/php/Psr/Log/LoggerInterface.php") || interface_exists("Psr\\Log\\LoggerInterface") ? 0 : 1);'; then
    missing="php-psr-log"
fi
if [ -n "$missing" ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "test-php: FAIL: $missing not installed (apt-get install php-cli php-psr-log php-monolog phpunit)" >&2
        exit 1
    fi
    echo "SKIP php client tests: $missing not installed (apt-get install php-cli php-psr-log php-monolog phpunit)"
    exit 0
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --locked -p loghog-daemon -p loghog-cli

cd "$root/php"
exec phpunit "$@"
