<?php

/**
 * Where the client's own errors go when the `debug` option is on: PHP's
 * error_log() (standard error under the CLI, the FPM or web server log
 * otherwise; never the HTTP response) or a callable given as the option.
 */

declare(strict_types=1);

namespace LogHog;

/** Prints the client's debug lines. */
final class Debug
{
    /** @param bool|callable $target the `debug` option */
    public static function write(mixed $target, string $message): void
    {
        if ($target === false || $target === null) {
            return;
        }
        try {
            if (is_callable($target)) {
                $target('loghog: ' . $message);
            } else {
                error_log('loghog: ' . $message);
            }
        } catch (\Throwable) {
            // The debug output must not break the application either.
        }
    }
}
