<?php

/**
 * The bounded queue of encoded frames waiting for the socket. When it is
 * full the oldest frame is dropped and counted, as in the Python client:
 * a dead server costs a fixed amount of memory, never latency.
 */

declare(strict_types=1);

namespace LogHog;

/** FIFO of frames with a size limit; overflow drops the oldest. */
final class RecordBuffer
{
    /** @var array<int, string> frames keyed by sequence number */
    private array $frames = [];
    private int $head = 0;
    private int $tail = 0;
    private int $dropped = 0;

    /** @param int $capacity most frames held (at least 1) */
    public function __construct(private int $capacity)
    {
        $this->capacity = max(1, $capacity);
    }

    /** Appends a frame; returns how many old frames were dropped for it (0 or 1). */
    public function push(string $frame): int
    {
        $dropped = 0;
        if ($this->tail - $this->head >= $this->capacity) {
            unset($this->frames[$this->head++]);
            $dropped = 1;
            $this->dropped++;
        }
        $this->frames[$this->tail++] = $frame;
        return $dropped;
    }

    /** Takes the oldest frame out, or null when empty. */
    public function shift(): ?string
    {
        if ($this->head === $this->tail) {
            return null;
        }
        $frame = $this->frames[$this->head];
        unset($this->frames[$this->head++]);
        return $frame;
    }

    /** Frames waiting. */
    public function count(): int
    {
        return $this->tail - $this->head;
    }

    /** Frames dropped by overflow since construction. */
    public function dropped(): int
    {
        return $this->dropped;
    }
}
