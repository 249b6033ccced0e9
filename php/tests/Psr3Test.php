<?php

/**
 * The PSR-3 side: `LEVEL - message` bodies, `{placeholder}` interpolation,
 * exceptions appended, and the promise that nothing ever throws: not an
 * unknown level, not bad options, not an application that turns warnings
 * into exceptions, not a failing debug callback.
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Logger;
use LogHog\Sender;
use LogHog\Tests\Support\Daemon;
use LogHog\Tests\Support\Env;
use PHPUnit\Framework\TestCase;
use Psr\Log\LoggerInterface;
use Psr\Log\LogLevel;

final class Psr3Test extends TestCase
{
    /** @param array<string, mixed> $options */
    private static function logger(string $app, array $options = []): Logger
    {
        return new Logger($app, $options + ['host' => '127.0.0.1', 'port' => Env::daemon()->tcpPort]);
    }

    public function testEveryLevelAndInterpolation(): void
    {
        $log = self::logger('php-psr3');
        self::assertInstanceOf(LoggerInterface::class, $log);
        $obj = new class () implements \Stringable {
            public function __toString(): string
            {
                return 'stringable';
            }
        };
        $log->emergency('e');
        $log->alert('a');
        $log->critical('c');
        $log->error('user {user} paid {amount} at {when}', ['user' => 'ann/42', 'amount' => 9.5, 'when' => new \DateTimeImmutable('2026-01-02T03:04:05+00:00')]);
        $log->warning('{flag} {nothing} {obj} {list} {missing} {not a key}', ['flag' => false, 'nothing' => null, 'obj' => $obj, 'list' => ['x' => 1]]);
        $log->notice('n');
        $log->info('i');
        $log->debug('d');
        $log->log(LogLevel::INFO, 'via log()');
        $log->log('trace', 'an unknown level is sent, not thrown');
        $log->log(300, 'a Monolog numeric level');
        self::assertTrue($log->flush(5.0));
        self::assertSame([
            'EMERGENCY - e',
            'ALERT - a',
            'CRITICAL - c',
            'ERROR - user ann/42 paid 9.5 at 2026-01-02T03:04:05.000+00:00',
            'WARNING - false  stringable {"x":1} {missing} {not a key}',
            'NOTICE - n',
            'INFO - i',
            'DEBUG - d',
            'INFO - via log()',
            'TRACE - an unknown level is sent, not thrown',
            'WARNING - a Monolog numeric level',
        ], Env::daemon()->waitBodies('php-psr3/root.log', 11));
    }

    public function testAnExceptionInTheContextIsAppendedAsATrace(): void
    {
        $log = self::logger('php-exception');
        $log->error('failed: {exception}', ['exception' => new \RuntimeException('disk full')]);
        self::assertTrue($log->flush(5.0));
        $path = Env::daemon()->log('php-exception/root.log');
        $text = (string) Daemon::poll(static fn () => str_contains((string) @file_get_contents($path), 'Stack trace:') ? file_get_contents($path) : '');
        self::assertStringContainsString('ERROR - failed: RuntimeException: disk full', $text);
        self::assertStringContainsString('Stack trace:', $text);
    }

    public function testBadOptionsAreReportedAndDefaultsUsedWithoutThrowing(): void
    {
        $messages = [];
        $log = self::logger('php-debug', [
            'timeout' => -3, 'max_buffer_size' => 'lots', 'colour' => 'blue',
            'debug' => function (string $m) use (&$messages): void {
                $messages[] = $m;
            },
        ]);
        self::assertSame(3, $log->errors());
        self::assertCount(3, $messages);
        self::assertStringContainsString('unknown option "colour"', implode("\n", $messages));
        $log->info('still works');
        self::assertTrue($log->flush(5.0));
        self::assertSame(['INFO - still works'], Env::daemon()->waitBodies('php-debug/root.log', 1));
    }

    public function testNothingThrowsEvenWhenTheAppTurnsWarningsIntoExceptions(): void
    {
        set_error_handler(static function (int $no, string $msg): bool {
            throw new \ErrorException($msg, 0, $no);
        });
        try {
            $log = self::logger('php-debug', [
                'port' => Env::freePort(), // nobody listens
                'debug' => static function (): void {
                    throw new \LogicException('a broken debug callback');
                },
            ]);
            $log->info('to nowhere');
            self::assertFalse($log->flush(0.5));
            self::assertGreaterThanOrEqual(1, $log->errors());
            self::assertStringContainsString('cannot connect', $log->lastError());
        } finally {
            restore_error_handler();
        }
    }

    public function testDebugTrueWritesToErrorLog(): void
    {
        $port = Env::freePort();
        $script = sprintf(
            'require %s; $l = new LogHog\Logger("php-debug", ["host" => "127.0.0.1", "port" => %d, "debug" => true]); $l->info("x");',
            var_export(dirname(__DIR__) . '/autoload.php', true),
            $port,
        );
        [$out, $err] = Env::run([PHP_BINARY, '-d', 'error_log=', '-r', $script], sys_get_temp_dir());
        self::assertSame('', $out);
        self::assertStringContainsString("loghog: cannot connect to tcp://127.0.0.1:$port", $err);
        self::assertStringContainsString('1 record(s) not delivered at shutdown; dropped', $err);
    }

    public function testDebugLinesAreRateLimitedButEveryErrorIsCounted(): void
    {
        $messages = [];
        $log = self::logger('php-udp', [
            'stream' => false, 'port' => Env::daemon()->udpPort,
            'debug' => function (string $m) use (&$messages): void {
                $messages[] = $m;
            },
        ]);
        for ($i = 0; $i < 25; $i++) {
            $log->info(str_repeat('u', 70000)); // too large for UDP: one error each
        }
        self::assertSame(25, $log->errors());
        self::assertSame(25, $log->dropped());
        self::assertCount(Sender::DEBUG_LINES_PER_MINUTE, $messages);
    }
}
