<?php

/**
 * The socket outlives the request: under PHP-FPM every request builds new
 * loggers (PHP's statics are reset), and the persistent stream lets them
 * reuse the worker's connection. Simulated here by clearing the sender
 * registry, as the end of a request does.
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Logger;
use LogHog\Sender;
use LogHog\Tests\Support\Env;
use PHPUnit\Framework\TestCase;

final class PersistenceTest extends TestCase
{
    private static function newRequest(): void
    {
        (new \ReflectionProperty(Sender::class, 'shared'))->setValue(null, []);
    }

    public function testANewRequestReusesTheConnection(): void
    {
        $d = Env::start();
        $options = ['host' => '127.0.0.1', 'port' => $d->tcpPort];
        $first = new Logger('php-tcp', $options);
        $first->info('request 1');
        self::assertTrue($first->flush(5.0));
        self::newRequest();
        $second = new Logger('php-tcp', $options);
        self::assertNotSame($first->sender(), $second->sender());
        $second->info('request 2');
        self::assertTrue($second->flush(5.0));
        self::assertSame(['INFO - request 1', 'INFO - request 2'], $d->waitBodies('php-tcp/root.log', 2));
        self::assertSame(1, substr_count($d->output(), 'connection opened'), $d->output());
        $d->stop();
    }

    public function testLoggersWithADebugCallableGetASocketOfTheirOwn(): void
    {
        $d = Env::start();
        $options = ['host' => '127.0.0.1', 'port' => $d->tcpPort, 'debug' => static function (string $m): void {
        }];
        $first = new Logger('php-tcp', $options);
        $first->info('own socket 1');
        self::assertTrue($first->flush(5.0));
        $second = new Logger('php-tcp', $options);
        $second->info('own socket 2');
        self::assertTrue($second->flush(5.0));
        $d->waitBodies('php-tcp/root.log', 2);
        self::assertSame(2, substr_count($d->output(), 'connection opened'), $d->output());
        $d->stop();
    }
}
