<?php

/**
 * The client's options, checked once: the keys are those of the Python
 * client (`host`, `port`, `stream`, ...). A bad value never throws: it is
 * reported through the error callback and the default is used instead, so
 * a typo in a config file cannot take the application down.
 */

declare(strict_types=1);

namespace LogHog;

/** Validated options of one client (see php/README.md for each key). */
final class Options
{
    /** Default port of a plain (TCP and UDP) listener. */
    public const DEFAULT_PORT = 5566;

    /** Default for `max_buffer_size`, as the Python client. */
    public const DEFAULT_MAX_BUFFER_SIZE = 1024;

    /** Default for `timeout` in seconds: connect (TLS handshake included) and flush waits. */
    public const DEFAULT_TIMEOUT = 0.05;

    /** The keys accepted in the options array. */
    public const KEYS = [
        'host', 'port', 'stream', 'secret', 'compression', 'hostname',
        'pemfile', 'cacert', 'max_buffer_size', 'timeout', 'debug', 'module',
    ];

    public string $host = 'localhost';
    public int $port = self::DEFAULT_PORT;
    /** TCP (or TLS) when true, UDP datagrams when false. */
    public bool $stream = true;
    /** HMAC-MD5 key; null sends unsigned records. */
    public ?string $secret = null;
    public bool $compression = false;
    public string $hostname = '';
    public ?string $pemfile = null;
    public ?string $cacert = null;
    public int $maxBufferSize = self::DEFAULT_MAX_BUFFER_SIZE;
    public float $timeout = self::DEFAULT_TIMEOUT;
    /** false, true (PHP's error_log) or a callable(string): where debug lines go. */
    public mixed $debug = false;
    /** The `module` of every record (the Monolog handler uses the channel unless this is set). */
    public ?string $module = null;

    /**
     * Reads an options array; every problem is passed to $onError and the
     * default kept.
     *
     * @param array<string, mixed> $options
     * @param callable(string): void $onError
     */
    public static function fromArray(array $options, callable $onError): self
    {
        $o = new self();
        foreach ($options as $key => $value) {
            if (!in_array($key, self::KEYS, true)) {
                $onError(sprintf('unknown option "%s" ignored', (string) $key));
            }
        }
        // debug first, so that the other options' errors can be printed.
        if (array_key_exists('debug', $options)) {
            $d = $options['debug'];
            if (is_bool($d) || is_callable($d)) {
                $o->debug = $d;
            } else {
                $o->debug = (bool) $d;
            }
        }
        $str = static function (string $key, bool $emptyIsNull) use ($options, $onError): ?string {
            if (!array_key_exists($key, $options) || $options[$key] === null) {
                return null;
            }
            $v = $options[$key];
            if (!is_scalar($v) && !$v instanceof \Stringable) {
                $onError(sprintf('option "%s" must be a string, got %s; default used', $key, get_debug_type($v)));
                return null;
            }
            $v = (string) $v;
            return ($emptyIsNull && $v === '') ? null : $v;
        };
        $o->host = $str('host', true) ?? 'localhost';
        $o->secret = $str('secret', true);
        // 0.7 meaning: a falsy hostname sends the machine's name.
        $o->hostname = $str('hostname', true) ?? (string) gethostname();
        $o->pemfile = $str('pemfile', true);
        $o->cacert = $str('cacert', true);
        $o->module = $str('module', false);

        if (array_key_exists('port', $options)) {
            $p = filter_var($options['port'], FILTER_VALIDATE_INT);
            if ($p === false || $p < 1 || $p > 65535) {
                $onError(sprintf('option "port" must be 1..65535, got %s; %d used', var_export($options['port'], true), self::DEFAULT_PORT));
            } else {
                $o->port = $p;
            }
        }
        if (array_key_exists('max_buffer_size', $options)) {
            $n = filter_var($options['max_buffer_size'], FILTER_VALIDATE_INT);
            if ($n === false || $n < 1) {
                $onError(sprintf('option "max_buffer_size" must be a positive integer, got %s; %d used', var_export($options['max_buffer_size'], true), self::DEFAULT_MAX_BUFFER_SIZE));
            } else {
                $o->maxBufferSize = $n;
            }
        }
        if (array_key_exists('timeout', $options)) {
            $t = filter_var($options['timeout'], FILTER_VALIDATE_FLOAT);
            if ($t === false || !is_finite($t) || $t <= 0) {
                $onError(sprintf('option "timeout" must be a positive number of seconds, got %s; %s used', var_export($options['timeout'], true), self::DEFAULT_TIMEOUT));
            } else {
                $o->timeout = $t;
            }
        }
        $o->stream = array_key_exists('stream', $options) ? (bool) $options['stream'] : true;
        $o->compression = (bool) ($options['compression'] ?? false);
        return $o;
    }

    /** Whether TLS is asked for (either file given). */
    public function tls(): bool
    {
        return $this->pemfile !== null || $this->cacert !== null;
    }

    /**
     * What makes two clients able to share one connection: everything about
     * the socket and the buffer, nothing about the records' contents. A
     * callable `debug` is not part of it: such a client gets a sender of
     * its own (see Sender::shared()).
     */
    public function senderKey(): string
    {
        return implode("\0", [
            $this->host, $this->port, $this->stream ? 'stream' : 'dgram',
            $this->pemfile ?? '', $this->cacert ?? '', $this->maxBufferSize, $this->timeout,
            $this->debug === true ? '1' : '0',
        ]);
    }
}
