<?php

/**
 * The Monolog handler (Monolog 2 from Debian): channel as module, the
 * `LEVEL - message` body with context, the handler's level, PSR-3
 * interpolation through Monolog's processor, and a failing processor
 * counted instead of thrown.
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Monolog\LoghogHandler;
use LogHog\Tests\Support\Env;
use Monolog\Logger;
use Monolog\Processor\PsrLogMessageProcessor;
use PHPUnit\Framework\TestCase;

final class MonologTest extends TestCase
{
    /** @param array<string, mixed> $options */
    private static function handler(array $options = [], int $level = Logger::DEBUG): LoghogHandler
    {
        return new LoghogHandler('php-monolog', $options + ['host' => '127.0.0.1', 'port' => Env::daemon()->tcpPort], $level);
    }

    public function testChannelIsTheModuleAndContextFollowsTheMessage(): void
    {
        $handler = self::handler([], Logger::INFO);
        $billing = new Logger('billing', [$handler]);
        $delivered = $handler->client()->delivered();
        $billing->pushProcessor(new PsrLogMessageProcessor());
        $billing->debug('below the handler level');
        $billing->info('invoice {id} paid', ['id' => 'A/7']);
        $billing->warning('with context', ['amount' => 12, 'currency' => '€']);
        (new Logger('other', [$handler]))->error('to the app root: no [php-monolog:other]');
        $handler->close();
        self::assertSame(
            ['INFO - invoice A/7 paid {"id":"A/7"}', 'WARNING - with context {"amount":12,"currency":"€"}'],
            Env::daemon()->waitBodies('php-monolog/billing.log', 2),
        );
        self::assertSame(['ERROR - to the app root: no [php-monolog:other]'], Env::daemon()->waitBodies('php-monolog/root.log', 1));
        self::assertSame($delivered + 3, $handler->client()->delivered());
    }

    public function testModuleOptionOverridesTheChannel(): void
    {
        $handler = self::handler(['module' => 'billing.cron']);
        (new Logger('app', [$handler]))->notice('from cron');
        self::assertTrue($handler->client()->flush(5.0));
        $bodies = Env::daemon()->waitBodies('php-monolog/billing.log', 3);
        self::assertSame('NOTICE - from cron', end($bodies));
    }

    public function testAFailingProcessorIsCountedNotThrown(): void
    {
        $handler = self::handler();
        $handler->pushProcessor(static function (): array {
            throw new \RuntimeException('processor bug');
        });
        $logger = new Logger('app', [$handler]);
        // Counters belong to the sender, which loggers with the same server options share.
        [$errors, $delivered] = [$handler->client()->errors(), $handler->client()->delivered()];
        $logger->error('lost to a processor bug');
        self::assertSame($errors + 1, $handler->client()->errors());
        self::assertStringContainsString('processor bug', $handler->client()->lastError());
        self::assertSame($delivered, $handler->client()->delivered());
    }

    public function testAnUnknownLevelIsReportedAndDebugUsed(): void
    {
        $messages = [];
        $handler = new LoghogHandler('php-monolog', [
            'host' => '127.0.0.1', 'port' => Env::daemon()->tcpPort, 'module' => 'billing.levels',
            'debug' => function (string $m) use (&$messages): void {
                $messages[] = $m;
            },
        ], 'verbose');
        self::assertSame(Logger::DEBUG, $handler->getLevel());
        self::assertStringContainsString("level 'verbose' not understood", $messages[0] ?? '');
        (new Logger('app', [$handler]))->debug('sent at debug');
        self::assertTrue($handler->client()->flush(5.0));
        self::assertSame(1, $handler->client()->delivered());
    }
}
