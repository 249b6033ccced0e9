<?php

/**
 * Makes the body of a PSR-3 record: `LEVEL - message`, the format of the
 * Python example (`%(levelname)s - %(message)s`), with PSR-3 `{key}`
 * placeholders replaced from the context and an exception in
 * `context['exception']` appended as its trace, as Python appends tracebacks.
 */

declare(strict_types=1);

namespace LogHog;

/** PSR-3 level names, placeholder interpolation and the body layout. */
final class BodyFormatter
{
    /** Monolog / RFC 5424-style numeric levels some code passes to log(). */
    private const NUMERIC = [
        100 => 'DEBUG', 200 => 'INFO', 250 => 'NOTICE', 300 => 'WARNING',
        400 => 'ERROR', 500 => 'CRITICAL', 550 => 'ALERT', 600 => 'EMERGENCY',
    ];

    /** The level as written in the body: the PSR-3 name upper-cased. */
    public static function levelName(mixed $level): string
    {
        if (is_int($level)) {
            return self::NUMERIC[$level] ?? 'LEVEL' . $level;
        }
        if ($level instanceof \BackedEnum) {
            $level = $level->value;
        }
        if (is_string($level) || $level instanceof \Stringable) {
            $name = strtoupper((string) $level);
            return $name === 'WARN' ? 'WARNING' : $name;
        }
        return 'LEVEL';
    }

    /**
     * `LEVEL - message` with placeholders replaced.
     *
     * @param array<mixed> $context
     */
    public static function format(mixed $level, mixed $message, array $context): string
    {
        $body = self::levelName($level) . ' - ' . self::interpolate(self::text($message), $context);
        $exception = $context['exception'] ?? null;
        if ($exception instanceof \Throwable) {
            $body .= "\n" . (string) $exception;
        }
        return $body;
    }

    /**
     * Replaces each `{key}` (key of A-Z, a-z, 0-9, `_`, `.`) whose context
     * value can be written as text; others are left as they are (PSR-3 §1.2).
     *
     * @param array<mixed> $context
     */
    public static function interpolate(string $message, array $context): string
    {
        if ($context === [] || !str_contains($message, '{')) {
            return $message;
        }
        $replace = [];
        foreach ($context as $key => $value) {
            $text = self::placeholderValue($value);
            if ($text !== null) {
                $replace['{' . $key . '}'] = $text;
            }
        }
        return strtr($message, $replace);
    }

    private static function placeholderValue(mixed $value): ?string
    {
        return match (true) {
            $value === null => '',
            is_bool($value) => $value ? 'true' : 'false',
            is_scalar($value) => (string) $value,
            $value instanceof \DateTimeInterface => $value->format(\DateTimeInterface::RFC3339_EXTENDED),
            $value instanceof \Stringable => (string) $value,
            $value instanceof \Throwable => get_class($value) . ': ' . $value->getMessage(),
            is_object($value) => '[object ' . get_class($value) . ']',
            is_array($value) => json_encode($value, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR) ?: '[array]',
            default => '[' . get_debug_type($value) . ']',
        };
    }

    private static function text(mixed $message): string
    {
        if (is_string($message)) {
            return $message;
        }
        if (is_scalar($message) || $message instanceof \Stringable || $message === null) {
            return (string) $message;
        }
        return '[' . get_debug_type($message) . ']';
    }
}
