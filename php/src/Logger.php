<?php

/**
 * The PSR-3 logger: `new LogHog\Logger('my-app', ['host' => ...])`. Each
 * call formats `LEVEL - message`, encodes one frame and hands it to the
 * process's shared Sender, which writes without blocking. No exception ever
 * leaves a public method, not even for an unknown level (a deliberate
 * departure from PSR-3's "MUST throw": logging must not break the app).
 */

declare(strict_types=1);

namespace LogHog;

use Psr\Log\AbstractLogger;

/** A PSR-3 logger that sends every record to loghogd. */
class Logger extends AbstractLogger
{
    /** The module sent when the `module` option is not given: the root facility, as Python's root logger. */
    public const DEFAULT_MODULE = 'root';

    private ?Sender $sender = null;
    private ?FrameEncoder $encoder = null;
    private string $module = self::DEFAULT_MODULE;
    /** @var list<string> option errors seen before a sender existed to count them */
    private array $setupErrors = [];

    /**
     * @param string $appName the app_id: a section of the server's facilities.conf
     * @param array<string, mixed> $options host, port, stream, secret, compression, hostname,
     *        pemfile, cacert, max_buffer_size, timeout, debug, module (see php/README.md)
     */
    public function __construct(string $appName, array $options = [])
    {
        try {
            $errors = [];
            $opts = Options::fromArray($options, function (string $e) use (&$errors): void {
                $errors[] = $e;
            });
            $this->module = $opts->module ?? self::DEFAULT_MODULE;
            $this->encoder = new FrameEncoder($appName, $opts->hostname, $opts->secret, $opts->compression);
            $this->sender = Sender::shared($opts);
            foreach ($errors as $e) {
                $this->sender->error($e);
            }
        } catch (\Throwable $e) {
            $this->setupErrors[] = 'setup failed: ' . $e->getMessage();
        }
    }

    /**
     * Logs at any level. Never throws.
     *
     * @param mixed $level a PSR-3 level (or Monolog's numeric level)
     * @param string|\Stringable $message
     * @param array<mixed> $context
     */
    public function log($level, $message, array $context = []): void
    {
        try {
            $this->send($this->module, BodyFormatter::format($level, $message, $context));
        } catch (\Throwable $e) {
            $this->sender?->error('log failed: ' . $e->getMessage());
        }
    }

    /**
     * Sends one record with this exact body (no level prefix) under
     * $module, stamped now or at $time. Never throws.
     */
    public function send(string $module, string $body, ?\DateTimeInterface $time = null): void
    {
        try {
            if ($this->sender === null || $this->encoder === null) {
                return;
            }
            if ($time === null) {
                $now = gettimeofday();
                $stamp = $now['sec'];
                $nsecs = $now['usec'] * 1000;
            } else {
                $stamp = $time->getTimestamp();
                $nsecs = (int) $time->format('u') * 1000;
            }
            $this->sender->send($this->encoder->encode($module, $body, $stamp, $nsecs));
        } catch (\Throwable $e) {
            $this->sender?->error('send failed: ' . $e->getMessage());
        }
    }

    /** A logger that sends under another module (facility), sharing this one's connection. */
    public function withModule(string $module): static
    {
        $clone = clone $this;
        $clone->module = $module;
        return $clone;
    }

    /** The module this logger sends under. */
    public function module(): string
    {
        return $this->module;
    }

    /** Writes what is buffered, waiting at most $seconds (default 2 × timeout). Returns whether all was written. */
    public function flush(?float $seconds = null): bool
    {
        return $this->sender?->flush($seconds) ?? false;
    }

    /** Records written to the socket. */
    public function delivered(): int
    {
        return $this->sender?->delivered() ?? 0;
    }

    /** Records lost (buffer overflow, too large for UDP, unsent at shutdown). */
    public function dropped(): int
    {
        return $this->sender?->dropped() ?? 0;
    }

    /** Records waiting for the socket. */
    public function pending(): int
    {
        return $this->sender?->pending() ?? 0;
    }

    /** Errors counted (connects, writes, bad options); see lastError(). */
    public function errors(): int
    {
        return ($this->sender?->errors() ?? 0) + count($this->setupErrors);
    }

    /** The text of the last error, '' if none. */
    public function lastError(): string
    {
        return $this->sender?->lastError() ?: (end($this->setupErrors) ?: '');
    }

    /** The shared sender behind this logger (null only if setup failed). */
    public function sender(): ?Sender
    {
        return $this->sender;
    }
}
