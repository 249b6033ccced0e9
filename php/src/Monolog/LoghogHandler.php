<?php

/**
 * Monolog handler for loghogd (Monolog 2, as in Debian, and Monolog 3: the
 * record is typed `array|LogRecord` and read through ArrayAccess, which both
 * versions support). The Monolog channel is the record's module unless the
 * `module` option is set; the body is `LEVEL - message` plus any context.
 */

declare(strict_types=1);

namespace LogHog\Monolog;

use LogHog\Logger as LoghogLogger;
use Monolog\Formatter\FormatterInterface;
use Monolog\Handler\AbstractProcessingHandler;
use Monolog\Logger;
use Monolog\LogRecord;

/** Sends Monolog records to loghogd, never throwing into the application. */
class LoghogHandler extends AbstractProcessingHandler
{
    private LoghogLogger $client;
    private bool $fixedModule;

    /**
     * @param string $appName the app_id: a section of the server's facilities.conf
     * @param array<string, mixed> $options as for LogHog\Logger
     * @param int|string|\UnitEnum $level the lowest level handled (Monolog's)
     */
    public function __construct(string $appName, array $options = [], $level = Logger::DEBUG, bool $bubble = true)
    {
        $this->client = new LoghogLogger($appName, $options);
        $this->fixedModule = isset($options['module']);
        try {
            parent::__construct($level, $bubble);
        } catch (\Throwable $e) {
            // An unknown level name must not take the application down.
            parent::__construct(Logger::DEBUG, $bubble);
            $this->client->sender()?->error('level ' . var_export($level, true) . ' not understood, DEBUG used: ' . $e->getMessage());
        }
    }

    /**
     * Monolog's processing and formatting, guarded: a failing processor or
     * formatter is counted (errors()) instead of reaching the caller.
     *
     * @param array<string, mixed>|LogRecord $record
     */
    public function handle(array|LogRecord $record): bool
    {
        try {
            return parent::handle($record);
        } catch (\Throwable $e) {
            $this->client->sender()?->error('Monolog handler failed: ' . $e->getMessage());
            return false; // let the other handlers have it
        }
    }

    /** @param array<string, mixed>|LogRecord $record */
    protected function write(array|LogRecord $record): void
    {
        $module = $this->fixedModule ? $this->client->module() : (string) $record['channel'];
        $time = $record['datetime'];
        $this->client->send($module, (string) $record['formatted'], $time instanceof \DateTimeInterface ? $time : null);
    }

    /** `LEVEL - message`, then the context and extra when not empty. */
    protected function getDefaultFormatter(): FormatterInterface
    {
        return new BodyFormatter();
    }

    /** Writes what is buffered (bounded by 2 × timeout). */
    public function close(): void
    {
        $this->client->flush();
        parent::close();
    }

    /** The client under the handler: counters (delivered(), dropped(), errors()) and flush(). */
    public function client(): LoghogLogger
    {
        return $this->client;
    }
}
