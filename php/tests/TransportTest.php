<?php

/**
 * Records through real sockets into a real loghogd: TCP, UDP, zlib,
 * signing (and a wrong secret refused by the daemon), unicode and `/`,
 * modules, and records larger than a socket buffer (partial writes).
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Logger;
use LogHog\Tests\Support\Env;
use PHPUnit\Framework\TestCase;

final class TransportTest extends TestCase
{
    /** @param array<string, mixed> $options */
    private static function logger(string $app, array $options = []): Logger
    {
        return new Logger($app, $options + ['host' => '127.0.0.1', 'port' => Env::daemon()->tcpPort, 'hostname' => 'php-test']);
    }

    public function testTcpRecordsArriveInOrderWithTheHostname(): void
    {
        $log = self::logger('php-tcp');
        $errors = $log->errors();
        for ($i = 0; $i < 50; $i++) {
            $log->info("tcp record $i");
        }
        self::assertTrue($log->flush(5.0));
        self::assertSame($errors, $log->errors(), $log->lastError());
        $bodies = Env::daemon()->waitBodies('php-tcp/root.log', 50);
        self::assertSame(array_map(fn ($i) => "INFO - tcp record $i", range(0, 49)), $bodies);
        self::assertStringContainsString(' - php-test - INFO - tcp record 0', Env::daemon()->lines('php-tcp/root.log')[0]);
    }

    public function testUdpRecordsArrive(): void
    {
        $log = self::logger('php-udp', ['stream' => false, 'port' => Env::daemon()->udpPort]);
        $delivered = $log->delivered();
        $log->warning('over udp');
        $log->error('second datagram');
        self::assertSame($delivered + 2, $log->delivered(), $log->lastError());
        $bodies = Env::daemon()->waitBodies('php-udp/root.log', 2);
        sort($bodies);
        self::assertSame(['ERROR - second datagram', 'WARNING - over udp'], $bodies);
    }

    public function testUdpRecordTooLargeForADatagramIsDroppedAndCounted(): void
    {
        $log = self::logger('php-udp', ['stream' => false, 'port' => Env::daemon()->udpPort]);
        $before = $log->dropped();
        $log->info(str_repeat('z', 70000));
        self::assertSame($before + 1, $log->dropped());
        self::assertStringContainsString('too large for a UDP datagram', $log->lastError());
    }

    public function testZlibRecordsArrive(): void
    {
        $log = self::logger('php-zlib', ['compression' => true]);
        $log->info('compressed ' . str_repeat('abc', 100));
        self::assertTrue($log->flush(5.0));
        self::assertSame(['INFO - compressed ' . str_repeat('abc', 100)], Env::daemon()->waitBodies('php-zlib/root.log', 1));
    }

    public function testSignedRecordsAreAcceptedAndAWrongSecretIsRefusedByTheDaemon(): void
    {
        // Same server options, so both loggers share one connection and the
        // daemon sees the bad record before the good one.
        $bad = self::logger('php-signed', ['secret' => 'not-the-secret']);
        $good = self::logger('php-signed', ['secret' => Env::SECRET, 'compression' => true]);
        $bad->info('forged record');
        $good->info('signed record');
        self::assertTrue($good->flush(5.0));
        self::assertSame(['INFO - signed record'], Env::daemon()->waitBodies('php-signed/root.log', 1));
        self::assertTrue(Env::daemon()->waitOutput('bad_signature'), Env::daemon()->output());
        // Unsigned is refused too.
        $unsigned = self::logger('php-signed');
        $unsigned->info('unsigned record');
        $good->info('signed again');
        self::assertTrue($good->flush(5.0));
        self::assertSame(['INFO - signed record', 'INFO - signed again'], Env::daemon()->waitBodies('php-signed/root.log', 2));
        self::assertTrue(Env::daemon()->waitOutput('missing_signature'), Env::daemon()->output());
    }

    public function testUnicodeSlashesQuotesAndNewlinesSurvive(): void
    {
        $log = self::logger('php-unicode', ['secret' => null]);
        $body = "path /var/log/app/é.log \"quoted\" 😀 日本語 back\\slash";
        $log->info($body);
        $log->error("first line\nsecond line");
        self::assertTrue($log->flush(5.0));
        $bodies = Env::daemon()->waitBodies('php-unicode/root.log', 2);
        self::assertSame("INFO - $body", $bodies[0]);
        self::assertSame('ERROR - first line', $bodies[1]);
        self::assertStringContainsString('second line', implode("\n", Env::daemon()->lines('php-unicode/root.log')));
    }

    public function testModuleOptionAndWithModuleChooseTheFacility(): void
    {
        $root = self::logger('php-module');
        $web = self::logger('php-module', ['module' => 'web.home']);
        $root->info('to root');
        $web->info('to web');
        $root->withModule('web')->notice('to web too');
        self::assertTrue($root->flush(5.0));
        self::assertSame(['INFO - to root'], Env::daemon()->waitBodies('php-module/root.log', 1));
        self::assertSame(['INFO - to web', 'NOTICE - to web too'], Env::daemon()->waitBodies('php-module/web.log', 2));
    }

    public function testRecordsLargerThanTheSocketBufferAreWrittenWholeAcrossCalls(): void
    {
        $log = self::logger('php-big');
        $big = str_repeat('0123456789', 50000); // 500 kB: several non-blocking writes
        for ($i = 0; $i < 4; $i++) {
            $log->info("big $i $big");
        }
        self::assertTrue($log->flush(10.0), $log->lastError());
        self::assertSame(array_map(fn ($i) => "INFO - big $i $big", range(0, 3)), Env::daemon()->waitBodies('php-big/root.log', 4));
    }

    public function testLargeRecordsOverTlsSurviveShortWrites(): void
    {
        $c = Env::certs();
        $log = new Logger('php-tls-big', [
            'host' => '127.0.0.1', 'port' => Env::daemon()->tlsPort, 'pemfile' => $c['client'], 'cacert' => $c['ca'], 'timeout' => 2.0,
        ]);
        $big = str_repeat('abcdefghij', 50000);
        for ($i = 0; $i < 8; $i++) {
            $log->info("tls big $i $big");
        }
        self::assertTrue($log->flush(20.0), $log->lastError());
        self::assertSame(0, $log->errors(), $log->lastError());
        self::assertSame(array_map(fn ($i) => "INFO - tls big $i $big", range(0, 7)), Env::daemon()->waitBodies('php-tls-big/root.log', 8));
    }

    public function testTheDefaultHostIsLocalhost(): void
    {
        $log = new Logger('php-localhost', ['port' => Env::daemon()->tcpPort]);
        $log->info('to localhost');
        self::assertTrue($log->flush(5.0), $log->lastError());
        self::assertSame(['INFO - to localhost'], Env::daemon()->waitBodies('php-localhost/root.log', 1));
    }
}
