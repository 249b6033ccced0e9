<?php

/**
 * Delivers frames: a bounded buffer in front of one socket. Every call
 * writes what the socket takes now and returns; what is left waits for the
 * next call or for the shutdown flush, which is bounded in time. Failed
 * connects back off (1 s doubling to 30 s) so a dead server costs one short
 * connect attempt now and then, not one per record. Nothing here throws to
 * the caller: errors are counted and sent to the debug output.
 */

declare(strict_types=1);

namespace LogHog;

/** The shared per-process sender of one server configuration. */
final class Sender
{
    /** First wait after a failed connect, seconds. */
    public const BACKOFF_MIN = 1.0;
    /** Longest wait between connect attempts, seconds. */
    public const BACKOFF_MAX = 30.0;

    /** Most debug lines printed per minute. */
    public const DEBUG_LINES_PER_MINUTE = 10;

    /** @var array<string, Sender> */
    private static array $shared = [];

    private RecordBuffer $buffer;
    private SocketTransport $transport;
    /** The frame being written (taken out of the buffer) and how much of it is on the wire. */
    private ?string $inflight = null;
    private int $offset = 0;
    /** The unwritten rest of $inflight as last passed to write(): retried as the very same string (OpenSSL wants the same buffer back after a short write). */
    private ?string $chunk = null;
    private float $nextConnect = 0.0;
    private float $backoff = self::BACKOFF_MIN;
    private int $delivered = 0;
    private int $dropped = 0;
    private int $errors = 0;
    private int $connectAttempts = 0;
    private string $lastError = '';
    private string $warning = '';
    private bool $closed = false;
    private float $debugWindowEnd = 0.0;
    private int $debugLines = 0;
    private int $debugHeldBack = 0;
    /** @var \Closure(int, string): bool */
    private \Closure $trap;

    /**
     * The sender for these options, shared by every logger of the process
     * that talks to the same server the same way, so that they share one
     * socket and never interleave partial frames on it.
     */
    public static function shared(Options $options): self
    {
        if (!is_bool($options->debug)) {
            // A callable cannot be compared: a sender of its own, not persistent.
            return new self($options, self::persistentId($options->senderKey()), false);
        }
        $key = $options->senderKey();
        return self::$shared[$key] ??= new self($options, self::persistentId($key));
    }

    private static function persistentId(string $key): string
    {
        return 'loghog-' . substr(md5($key), 0, 16);
    }

    public function __construct(private Options $options, string $persistentId, bool $persistent = true)
    {
        $this->buffer = new RecordBuffer($options->maxBufferSize);
        $this->transport = new SocketTransport($options, $persistentId, $persistent);
        $this->trap = function (int $no, string $message): bool {
            $this->warning = $message;
            return true;
        };
        // Registered again from inside the first call, so the final flush
        // runs after the shutdown functions the application registered
        // later (which may still log).
        register_shutdown_function(function (): void {
            register_shutdown_function(function (): void {
                $this->shutdown();
            });
        });
    }

    /** Queues one frame and writes what the socket takes now. Never throws. */
    public function send(string $frame): void
    {
        try {
            if ($this->closed) {
                $this->dropped++;
                return;
            }
            if ($this->transport->isDatagram() && strlen($frame) > SocketTransport::MAX_DATAGRAM) {
                $this->dropped++;
                $this->error(sprintf('record of %d bytes is too large for a UDP datagram; dropped (use stream => true)', strlen($frame)));
                return;
            }
            $this->dropped += $this->buffer->push($frame);
            $this->pump(false);
        } catch (\Throwable $e) {
            $this->error('send failed: ' . $e->getMessage());
        }
    }

    /**
     * Writes everything buffered, waiting at most $seconds (default twice
     * `timeout`: one connect and the writes). A connect is tried even while
     * backing off. Returns whether nothing is left. Never throws.
     */
    public function flush(?float $seconds = null): bool
    {
        try {
            $deadline = microtime(true) + ($seconds ?? 2 * $this->options->timeout);
            $this->pump(true, $deadline);
            while ($this->pending() > 0 && $this->transport->isOpen()) {
                $left = $deadline - microtime(true);
                if ($left <= 0 || !$this->guarded(fn () => $this->transport->waitWritable($left))) {
                    break;
                }
                $this->pump(false);
            }
            return $this->pending() === 0;
        } catch (\Throwable $e) {
            $this->error('flush failed: ' . $e->getMessage());
            return false;
        }
    }

    /**
     * At the end of the process (or request): a bounded flush; then what is
     * still unsent is counted as dropped, and a socket with a half-written
     * frame is closed so a persistent connection is never reused mid-frame.
     */
    public function shutdown(): void
    {
        try {
            if ($this->closed) {
                return;
            }
            $this->flush();
            $this->closed = true;
            $left = $this->pending();
            if ($left > 0) {
                $this->dropped += $left;
                $this->error(sprintf('%d record(s) not delivered at shutdown; dropped', $left));
            }
            if ($this->offset > 0) {
                $this->guarded(fn () => $this->transport->close());
            }
        } catch (\Throwable $e) {
            $this->error('shutdown failed: ' . $e->getMessage());
        }
    }

    /** Records written whole to the socket. */
    public function delivered(): int
    {
        return $this->delivered;
    }

    /** Records lost: buffer overflow, too large for UDP, unsent at shutdown, sent after shutdown. */
    public function dropped(): int
    {
        return $this->dropped;
    }

    /** Records waiting to be written. */
    public function pending(): int
    {
        return $this->buffer->count() + ($this->inflight !== null ? 1 : 0);
    }

    /** Errors seen (failed connects, writes, bad options, ...). */
    public function errors(): int
    {
        return $this->errors;
    }

    /** Connection attempts made so far. */
    public function connectAttempts(): int
    {
        return $this->connectAttempts;
    }

    /** The last error's text, '' if none. */
    public function lastError(): string
    {
        return $this->lastError;
    }

    /**
     * Counts an error and prints it when `debug` is on, at most
     * DEBUG_LINES_PER_MINUTE lines a minute (a record-by-record error must
     * not flood the error log); the lines held back are then counted.
     */
    public function error(string $message): void
    {
        $this->errors++;
        $this->lastError = $message;
        if ($this->options->debug === false) {
            return;
        }
        $now = microtime(true);
        if ($now >= $this->debugWindowEnd) {
            if ($this->debugHeldBack > 0) {
                Debug::write($this->options->debug, sprintf('%d more error(s) not shown in the last minute', $this->debugHeldBack));
            }
            $this->debugWindowEnd = $now + 60.0;
            $this->debugLines = 0;
            $this->debugHeldBack = 0;
        }
        if ($this->debugLines < self::DEBUG_LINES_PER_MINUTE) {
            $this->debugLines++;
            Debug::write($this->options->debug, $message);
        } else {
            $this->debugHeldBack++;
        }
    }

    /**
     * Connects if needed (and allowed by the back-off unless $force) and
     * writes frames until the buffer is empty or the socket is full.
     */
    private function pump(bool $force, float $deadline = 0.0): void
    {
        if ($this->pending() === 0) {
            return;
        }
        $this->guarded(function () use ($force, $deadline): void {
            if (!$this->transport->isAlive()) {
                if ($this->transport->error !== '') {
                    // The server closed the connection (a restart): say so, reconnect now.
                    $this->error($this->transport->error . '; reconnecting');
                    $this->transport->error = '';
                }
                if (!$this->connect($force, $deadline)) {
                    return;
                }
            }
            while (true) {
                if ($this->inflight === null) {
                    $this->inflight = $this->buffer->shift();
                    $this->offset = 0;
                    if ($this->inflight === null) {
                        return;
                    }
                }
                $chunk = $this->offset === 0 ? $this->inflight : ($this->chunk ??= substr($this->inflight, $this->offset));
                $n = $this->transport->write($chunk);
                $this->chunk = null;
                if ($n === false) {
                    // The frame is sent again, whole, on the next connection:
                    // the server drops the partial one (at least once delivery).
                    $this->offset = 0;
                    $this->chunk = null;
                    $this->failed($this->transport->error);
                    return;
                }
                if ($n < strlen($chunk)) {
                    if ($this->transport->isDatagram() && $n > 0) {
                        // A datagram is never cut; treat as sent.
                        $n = strlen($chunk);
                    } else {
                        $this->offset += $n;
                        if ($n === 0 && $this->offset > 0) {
                            $this->chunk = $chunk;
                        }
                        return;
                    }
                }
                $this->inflight = null;
                $this->offset = 0;
                $this->delivered++;
            }
        });
    }

    private function connect(bool $force, float $deadline): bool
    {
        $now = microtime(true);
        if (!$force && $now < $this->nextConnect) {
            return false;
        }
        $timeout = $this->options->timeout;
        if ($deadline > 0.0) {
            $timeout = min($timeout, max(0.001, $deadline - $now));
        }
        $this->connectAttempts++;
        if ($this->transport->connect($timeout)) {
            $this->backoff = self::BACKOFF_MIN;
            $this->nextConnect = 0.0;
            // A frame cut by the old connection starts over on the new one.
            $this->offset = 0;
            $this->chunk = null;
            return true;
        }
        $this->failed($this->transport->error);
        return false;
    }

    private function failed(string $message): void
    {
        $this->nextConnect = microtime(true) + $this->backoff;
        $this->error(sprintf('%s%s; %d record(s) buffered, retrying in %.0f s', $message, $this->warning !== '' && !str_contains($message, $this->warning) ? ' (' . $this->warning . ')' : '', $this->pending(), $this->backoff));
        $this->backoff = min(self::BACKOFF_MAX, $this->backoff * 2);
    }

    /**
     * Runs $fn with PHP warnings captured instead of shown, so that an
     * application turning warnings into exceptions (Laravel, Symfony) never
     * sees ours.
     *
     * @template T
     * @param callable(): T $fn
     * @return T
     */
    private function guarded(callable $fn): mixed
    {
        $this->warning = '';
        set_error_handler($this->trap);
        try {
            return $fn();
        } finally {
            restore_error_handler();
        }
    }
}
