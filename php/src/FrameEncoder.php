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

    /** JSON string flags: raw UTF-8 and `/` (both valid JSON), bad UTF-8 as U+FFFD. */
    private const JSON_FLAGS = JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR;

    private ?Signer $signer;
    /** The JSON text before the module, built once: `{"version":1,"app_id":"...","module":`. */
    private string $head;
    /** `,"hostname":"..."` built once. */
    private string $hostField;
    private string $lastModule = "\0";
    private string $lastModuleJson = '';

    public function __construct(
        private string $appId,
        string $hostname,
        ?string $secret = null,
        private bool $compression = false,
    ) {
        $this->appId = self::utf8($appId);
        $this->signer = $secret === null ? null : new Signer($secret);
        $this->head = '{"version":' . self::VERSION . ',"app_id":' . json_encode($this->appId, self::JSON_FLAGS) . ',"module":';
        $this->hostField = ',"hostname":' . json_encode(self::utf8($hostname), self::JSON_FLAGS);
    }

    /**
     * The whole frame for one record. The JSON is assembled from pieces
     * (the constant ones encoded once), which halves the cost of a call.
     *
     * @param int $stamp seconds since the epoch
     * @param int $nsecs nanoseconds within that second
     */
    public function encode(string $module, string $body, int $stamp, int $nsecs): string
    {
        if ($module !== $this->lastModule) {
            $this->lastModule = $module;
            $this->lastModuleJson = json_encode(self::utf8($module), self::JSON_FLAGS);
        }
        $signature = '';
        if ($this->signer !== null) {
            // Sign the text the daemon will decode: repair bad UTF-8 first.
            $body = self::utf8($body);
            $signature = ',"signature":"' . $this->signer->sign($this->appId, self::utf8($module), $stamp, $nsecs, $body) . '"';
        }
        $payload = $this->head . $this->lastModuleJson . ',"stamp":' . $stamp . ',"nsecs":' . $nsecs
            . $this->hostField . ',"body":' . json_encode($body, self::JSON_FLAGS) . $signature . '}';
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
