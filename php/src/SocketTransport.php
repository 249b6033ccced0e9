<?php

/**
 * One socket to loghogd: TCP, TLS or UDP, opened with stream_socket_client
 * under a short connect timeout and then switched to non-blocking, so a
 * write never waits. The stream is persistent (STREAM_CLIENT_PERSISTENT):
 * under PHP-FPM it survives the request and the next request reuses it,
 * after PHP's own liveness check.
 */

declare(strict_types=1);

namespace LogHog;

/** A connection (or connected UDP socket) to the daemon; errors are returned, never thrown. */
final class SocketTransport
{
    /** Largest UDP payload over IPv4: a frame must fit one datagram. */
    public const MAX_DATAGRAM = 65507;

    /** @var resource|null */
    private $socket = null;

    /** Why the last call failed, for the debug output. */
    public string $error = '';

    /**
     * @param string $persistentId distinguishes the persistent sockets of differently configured senders
     * @param bool $persistent false for a sender that is not shared: its key would differ every
     *        request, so a persistent socket could never be reused and FPM would collect them
     */
    public function __construct(private Options $options, private string $persistentId, private bool $persistent = true)
    {
    }

    /** Whether frames go out as datagrams (one frame each). */
    public function isDatagram(): bool
    {
        return !$this->options->stream;
    }

    /** Whether a socket is open (it may still turn out to be closed by the peer). */
    public function isOpen(): bool
    {
        return $this->socket !== null;
    }

    /** The address connected to, for messages. */
    public function remote(): string
    {
        $o = $this->options;
        $scheme = !$o->stream ? 'udp' : ($o->tls() ? 'ssl' : 'tcp');
        $host = str_contains($o->host, ':') && $o->host[0] !== '[' ? '[' . $o->host . ']' : $o->host;
        return $scheme . '://' . $host . ':' . $o->port;
    }

    /**
     * Opens the socket, waiting at most $timeout seconds (connect and TLS
     * handshake; every address the host resolves to is tried by PHP in
     * turn). Returns false with $error set on failure.
     */
    public function connect(float $timeout): bool
    {
        $this->close();
        $o = $this->options;
        $context = stream_context_create();
        if ($o->tls()) {
            if (!$o->stream) {
                $this->error = 'TLS needs a stream (stream => true); not connecting';
                return false;
            }
            if ($o->pemfile === null || $o->cacert === null) {
                $this->error = 'TLS needs both pemfile and cacert; not connecting';
                return false;
            }
            // Verify the chain against our CA only, not the host name: the
            // default loghog-server-cert certificate names "loghog", and the
            // 0.7 client did not check names either.
            stream_context_set_option($context, ['ssl' => [
                'local_cert' => $o->pemfile,
                'cafile' => $o->cacert,
                'verify_peer' => true,
                'verify_peer_name' => false,
                'allow_self_signed' => false,
                'crypto_method' => STREAM_CRYPTO_METHOD_TLSv1_2_CLIENT | STREAM_CRYPTO_METHOD_TLSv1_3_CLIENT,
                'disable_compression' => true,
            ]]);
        }
        $errno = 0;
        $errstr = '';
        // The path after the port is ignored by PHP's address parser but is
        // part of the persistent stream's key.
        $socket = stream_socket_client(
            $this->remote() . '/' . $this->persistentId,
            $errno,
            $errstr,
            $timeout,
            $this->persistent ? STREAM_CLIENT_CONNECT | STREAM_CLIENT_PERSISTENT : STREAM_CLIENT_CONNECT,
            $context,
        );
        if ($socket === false) {
            $this->error = sprintf('cannot connect to %s: %s', $this->remote(), $errstr !== '' ? $errstr : "errno $errno");
            return false;
        }
        stream_set_blocking($socket, false);
        $this->socket = $socket;
        return true;
    }

    /**
     * For a stream: whether the connection is still up. feof() on a socket
     * polls it and peeks at one byte (no read: v1 servers send nothing), so
     * this costs one system call. An end-of-file means the server closed
     * it (a restart): the socket is closed and $error says so; with no
     * socket $error is ''.
     */
    public function isAlive(): bool
    {
        $this->error = '';
        if ($this->socket === null) {
            return false;
        }
        if ($this->isDatagram()) {
            return true;
        }
        if (feof($this->socket)) {
            $this->error = sprintf('%s closed the connection', $this->remote());
            $this->close();
            return false;
        }
        return true;
    }

    /**
     * Writes what the socket takes now without waiting; returns the number
     * of bytes written (0 when the socket is full), or false on an error
     * (the socket is then closed).
     */
    public function write(string $data): int|false
    {
        if ($this->socket === null) {
            $this->error = 'not connected';
            return false;
        }
        $n = fwrite($this->socket, $data);
        if ($n === false) {
            $this->error = sprintf('write to %s failed', $this->remote());
            $this->close();
            return false;
        }
        return $n;
    }

    /** Waits up to $seconds until the socket can take more bytes; false on timeout. */
    public function waitWritable(float $seconds): bool
    {
        if ($this->socket === null) {
            return false;
        }
        $r = null;
        $e = null;
        $w = [$this->socket];
        $sec = (int) floor(max(0.0, $seconds));
        $usec = (int) ((max(0.0, $seconds) - $sec) * 1e6);
        return (bool) stream_select($r, $w, $e, $sec, $usec);
    }

    /** Closes the socket for good (a persistent one too, so a half-written frame never reaches the next request). */
    public function close(): void
    {
        if ($this->socket !== null) {
            fclose($this->socket);
            $this->socket = null;
        }
    }
}
