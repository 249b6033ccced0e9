<?php

/**
 * A real loghogd for the tests, started from the debug binary in its own
 * temp dir, listening on 127.0.0.1 with ports the OS picks (read back from
 * the daemon's `proto=... addr=... listening` lines, as python/tests does).
 * Its stderr goes to a file, so the daemon can never block on a full pipe.
 * Every wait polls with a deadline; stop() ends it by its PID.
 */

declare(strict_types=1);

namespace LogHog\Tests\Support;

/** One running loghogd. */
final class Daemon
{
    /** Longest any wait in a test may take before it fails, seconds. */
    public const DEADLINE = 20.0;

    /** @var resource */
    private $proc;
    public int $pid;
    public int $tcpPort;
    public int $udpPort;
    public ?int $tlsPort = null;
    private bool $stopped = false;

    /**
     * @param string $dir a fresh directory for config, logs and stderr
     * @param string $facilities the facilities.conf text
     * @param string $extraServer lines added to [server]
     * @param string $listen the listen_ipv4 address
     */
    public function __construct(
        public string $binary,
        public string $dir,
        string $facilities,
        string $extraServer = '',
        string $listen = '127.0.0.1:0',
    ) {
        if (!is_dir($dir)) {
            mkdir($dir, 0700, true);
        }
        file_put_contents("$dir/facilities.conf", $facilities);
        file_put_contents(
            "$dir/loghogd.conf",
            "[main]\nworkdir = work\nlogdir = logs\nrundir = run\nfacilities_config = facilities.conf\n\n"
            . "[log]\nfilename = loghogd.log\nlevel = DEBUG\n\n"
            . "[server]\nlisten_ipv4 = $listen\nlisten_ipv6 =\n$extraServer\n"
        );
        $proc = proc_open(
            [$binary, '-c', "$dir/loghogd.conf"],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', "$dir/stderr.log", 'w']],
            $pipes,
        );
        if ($proc === false) {
            throw new \RuntimeException("cannot start $binary");
        }
        $this->proc = $proc;
        $this->pid = proc_get_status($proc)['pid'];
        $started = self::poll(fn () => str_contains($this->output(), 'loghogd started') || !proc_get_status($this->proc)['running']);
        if (!$started || !str_contains($this->output(), 'loghogd started')) {
            $out = $this->output();
            $this->stop();
            throw new \RuntimeException("loghogd did not start:\n$out");
        }
        $this->tcpPort = $this->port('tcp');
        $this->udpPort = $this->port('udp');
        if (str_contains($this->output(), 'proto=tls addr=')) {
            $this->tlsPort = $this->port('tls');
        }
    }

    /** Calls $cond until it returns something truthy or the deadline passes; returns its last value. */
    public static function poll(callable $cond, float $deadline = self::DEADLINE): mixed
    {
        $end = microtime(true) + $deadline;
        while (true) {
            $v = $cond();
            if ($v || microtime(true) > $end) {
                return $v;
            }
            usleep(10_000);
        }
    }

    /** Everything the daemon printed on stderr so far. */
    public function output(): string
    {
        return (string) @file_get_contents("$this->dir/stderr.log");
    }

    private function port(string $proto): int
    {
        foreach (explode("\n", $this->output()) as $line) {
            $at = strpos($line, "proto=$proto addr=");
            if ($at !== false && str_ends_with(rtrim($line), 'listening')) {
                $addr = strtok(substr($line, $at + strlen("proto=$proto addr=")), ' ');
                return (int) substr($addr, strrpos($addr, ':') + 1);
            }
        }
        throw new \RuntimeException("no $proto listener in:\n" . $this->output());
    }

    /** A path under the log directory. */
    public function log(string $rel): string
    {
        return "$this->dir/logs/$rel";
    }

    /** @return list<string> the lines of a log file, [] while it does not exist */
    public function lines(string $rel): array
    {
        $text = @file_get_contents($this->log($rel));
        if ($text === false || $text === '') {
            return [];
        }
        return explode("\n", rtrim($text, "\n"));
    }

    /**
     * Waits until log file $rel holds at least $n lines and returns their
     * bodies (what follows `time - host - `); fails with the daemon's
     * output when the deadline passes.
     *
     * @return list<string>
     */
    public function waitBodies(string $rel, int $n): array
    {
        self::poll(fn () => count($this->lines($rel)) >= $n);
        $lines = $this->lines($rel);
        if (count($lines) < $n) {
            throw new \RuntimeException(sprintf(
                "%s has %d lines, wanted %d: %s\ndaemon:\n%s",
                $rel,
                count($lines),
                $n,
                implode("\n", array_slice($lines, -3)),
                substr($this->output(), -2000),
            ));
        }
        return array_map(static fn (string $l) => self::body($l), $lines);
    }

    /** The body of a daemon log line `{time} - {host} - {body}`. */
    public static function body(string $line): string
    {
        $parts = explode(' - ', $line, 3);
        return $parts[2] ?? '';
    }

    /** Waits until the daemon's stderr contains $needle; returns whether it did. */
    public function waitOutput(string $needle): bool
    {
        return (bool) self::poll(fn () => str_contains($this->output(), $needle));
    }

    /** SIGTERM by PID and wait for the exit (SIGKILL after the deadline). */
    public function stop(): void
    {
        if ($this->stopped) {
            return;
        }
        $this->stopped = true;
        $status = proc_get_status($this->proc);
        if ($status['running']) {
            posix_kill($this->pid, SIGTERM);
            if (!self::poll(fn () => !proc_get_status($this->proc)['running'])) {
                posix_kill($this->pid, SIGKILL);
                self::poll(fn () => !proc_get_status($this->proc)['running']);
            }
        }
        proc_close($this->proc);
    }
}
