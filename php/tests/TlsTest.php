<?php

/**
 * Mutual TLS with certificates made by the real loghog-server-cert and
 * loghog-client-cert: the server is verified against the CA but not by
 * host name (its certificate names "loghog", we connect to 127.0.0.1), and
 * a server whose CA we do not trust gets nothing.
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Logger;
use LogHog\Tests\Support\Env;
use PHPUnit\Framework\TestCase;

final class TlsTest extends TestCase
{
    public function testRecordsArriveOverMutualTlsWithTheDefaultCertificates(): void
    {
        $c = Env::certs();
        $log = new Logger('php-tls', [
            'host' => '127.0.0.1', 'port' => Env::daemon()->tlsPort, 'pemfile' => $c['client'], 'cacert' => $c['ca'],
            // The debug daemon's first handshake can be slow; a real one takes a few ms.
            'timeout' => 2.0,
        ]);
        $log->info('over tls é/😀');
        $log->error('second over tls');
        self::assertTrue($log->flush(5.0), $log->lastError());
        self::assertSame(['INFO - over tls é/😀', 'ERROR - second over tls'], Env::daemon()->waitBodies('php-tls/root.log', 2));
        self::assertSame(0, $log->errors(), $log->lastError());
    }

    public function testAServerNotSignedByOurCaIsRefusedAndNothingIsSent(): void
    {
        $c = Env::certs();
        $messages = [];
        $log = new Logger('php-tls-bad', [
            'host' => '127.0.0.1', 'port' => Env::daemon()->tlsPort, 'pemfile' => $c['client'], 'cacert' => $c['otherCa'],
            'timeout' => 2.0, 'debug' => function (string $m) use (&$messages): void {
                $messages[] = $m;
            },
        ]);
        $log->info('must not be sent');
        self::assertFalse($log->flush(2.0));
        self::assertSame(0, $log->delivered());
        self::assertSame(1, $log->pending());
        self::assertGreaterThanOrEqual(1, $log->errors());
        self::assertStringContainsString('cannot connect to ssl://127.0.0.1', $messages[0] ?? '');
    }

    public function testTlsWithoutACaFileOrOverUdpIsRefusedNotSentInClear(): void
    {
        $c = Env::certs();
        foreach ([['pemfile' => $c['client']], ['pemfile' => $c['client'], 'cacert' => $c['ca'], 'stream' => false]] as $opts) {
            $log = new Logger('php-tls-bad', $opts + ['host' => '127.0.0.1', 'port' => Env::daemon()->tcpPort]);
            $log->info('must not be sent in clear');
            self::assertFalse($log->flush(1.0));
            self::assertSame(0, $log->delivered());
            self::assertStringContainsString('TLS needs', $log->lastError());
        }
        self::assertSame([], Env::daemon()->lines('php-tls-bad/root.log'));
    }
}
