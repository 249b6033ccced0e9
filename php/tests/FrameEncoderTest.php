<?php

/**
 * The frame bytes without a daemon: header, JSON fields, zlib flag, and the
 * signature of docs/protocol.md's worked example (the 0.7 golden frame).
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\FrameEncoder;
use PHPUnit\Framework\TestCase;

final class FrameEncoderTest extends TestCase
{
    /** @return array{0: int, 1: int, 2: string} length, flags, payload */
    private static function unpackFrame(string $frame): array
    {
        $h = unpack('Nlength/Nflags', substr($frame, 0, 8));
        return [$h['length'], $h['flags'], substr($frame, 8)];
    }

    public function testPlainFrameCarriesTheV1Fields(): void
    {
        $frame = (new FrameEncoder('my-first-app', 'athens'))->encode('web.requests', 'INFO - a/b é', 1358363502, 12042999);
        [$length, $flags, $payload] = self::unpackFrame($frame);
        self::assertSame(strlen($payload), $length);
        self::assertSame(0, $flags);
        self::assertSame([
            'version' => 1, 'app_id' => 'my-first-app', 'module' => 'web.requests', 'stamp' => 1358363502,
            'nsecs' => 12042999, 'hostname' => 'athens', 'body' => 'INFO - a/b é',
        ], json_decode($payload, true, 512, JSON_THROW_ON_ERROR));
    }

    public function testZlibFrameHasFlagOneAndInflatesToTheJson(): void
    {
        $frame = (new FrameEncoder('app', 'h', null, true))->encode('root', str_repeat('x', 500), 1, 2);
        [$length, $flags, $payload] = self::unpackFrame($frame);
        self::assertSame(FrameEncoder::FLAG_ZLIB, $flags);
        self::assertSame(strlen($payload), $length);
        self::assertSame("\x78\x9c", substr($payload, 0, 2));
        self::assertSame(str_repeat('x', 500), json_decode(gzuncompress($payload), true)['body']);
    }

    public function testSignatureMatchesTheWorkedExampleOfTheProtocolDoc(): void
    {
        $frame = (new FrameEncoder('app-with-secret', 'athens', 'my-big-secret'))
            ->encode('cron', 'INFO - signed message', 1358363502, 12042999);
        $msg = json_decode(self::unpackFrame($frame)[2], true);
        self::assertSame('8e41cf54fff8d8d7cccdca279dfa144e', $msg['signature']);
    }

    public function testInvalidUtf8IsRepairedBeforeSigningSoTheSignatureStillHolds(): void
    {
        $frame = (new FrameEncoder('app', 'h', 's3cret'))->encode('root', "bad \xff byte", 5, 6);
        $msg = json_decode(self::unpackFrame($frame)[2], true, 512, JSON_THROW_ON_ERROR);
        self::assertSame("bad \u{FFFD} byte", $msg['body']);
        self::assertSame(hash_hmac('md5', "approot56bad \u{FFFD} byte", 's3cret'), $msg['signature']);
    }
}
