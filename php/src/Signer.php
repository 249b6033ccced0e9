<?php

/**
 * The record signature of protocol v1: lowercase hex HMAC-MD5 over
 * app_id ‖ module ‖ stamp ‖ nsecs ‖ body (UTF-8, no separators), exactly
 * what docs/protocol.md ("Signature") and the daemon define.
 */

declare(strict_types=1);

namespace LogHog;

/** Signs records with one secret. */
final class Signer
{
    public function __construct(private string $secret)
    {
    }

    /** The 32 lowercase hex digits sent in the `signature` field. */
    public function sign(string $appId, string $module, int $stamp, int $nsecs, string $body): string
    {
        return hash_hmac('md5', $appId . $module . $stamp . $nsecs . $body, $this->secret);
    }
}
