<?php

/**
 * Turns one record into the bytes of one v1 frame: the JSON message
 * (signed when a secret is set), zlib-compressed under flag 0x01 when asked,
 * behind the 8-byte big-endian length + flags header (docs/protocol.md).
 * Text that is not valid UTF-8 is repaired (U+FFFD) *before* signing, so the
 * signature covers exactly what the daemon decodes.
 */

declare(strict_types=1);

namespace LogHog;

/** Encodes records of one application into frames. */
final class FrameEncoder
{
    /** Flag bit: the payload is a zlib stream. */
    public const FLAG_ZLIB = 0x01;

    /** Protocol version sent in every message. */
    public const VERSION = 1;

    private ?Signer $signer;

    public function __construct(
        private string $appId,
        private string $hostname,
        ?string $secret = null,
        private bool $compression = false,
    ) {
        $this->appId = self::utf8($appId);
        $this->hostname = self::utf8($hostname);
        $this->signer = $secret === null ? null : new Signer($secret);
    }

    /**
     * The whole frame for one record.
     *
     * @param int $stamp seconds since the epoch
     * @param int $nsecs nanoseconds within that second
     */
    public function encode(string $module, string $body, int $stamp, int $nsecs): string
    {
        $module = self::utf8($module);
        $body = self::utf8($body);
        $msg = [
            'version' => self::VERSION,
            'app_id' => $this->appId,
            'module' => $module,
            'stamp' => $stamp,
            'nsecs' => $nsecs,
            'hostname' => $this->hostname,
            'body' => $body,
        ];
        if ($this->signer !== null) {
            $msg['signature'] = $this->signer->sign($this->appId, $module, $stamp, $nsecs, $body);
        }
        $payload = json_encode($msg, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
        $flags = 0;
        if ($this->compression) {
            $payload = gzcompress($payload);
            if ($payload === false) {
                throw new \RuntimeException('zlib compression failed');
            }
            $flags |= self::FLAG_ZLIB;
        }
        return pack('NN', strlen($payload), $flags) . $payload;
    }

    /** $s itself when it is valid UTF-8, else with each bad sequence replaced by U+FFFD. */
    public static function utf8(string $s): string
    {
        if (preg_match('//u', $s) === 1) {
            return $s;
        }
        return (string) json_decode((string) json_encode($s, JSON_INVALID_UTF8_SUBSTITUTE));
    }
}
