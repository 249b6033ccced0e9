<?php

/**
 * The Monolog handler's default formatter: `LEVEL - message`, as the Python
 * example's `%(levelname)s - %(message)s`, with context and extra appended as
 * JSON only when present, exception traces included, newlines kept.
 */

declare(strict_types=1);

namespace LogHog\Monolog;

use Monolog\Formatter\LineFormatter;
use Monolog\LogRecord;

/** LineFormatter with the LogHog body layout and no trailing blanks. */
class BodyFormatter extends LineFormatter
{
    public function __construct()
    {
        parent::__construct('%level_name% - %message% %context% %extra%', null, true, true);
        $this->includeStacktraces(true);
    }

    /** @param array<string, mixed>|LogRecord $record */
    public function format(array|LogRecord $record): string
    {
        return rtrim(parent::format($record), ' ');
    }
}
