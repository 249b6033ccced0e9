<?php

/**
 * The server away: calls return at once (one connect attempt per back-off
 * period, not one per record), the buffer keeps the newest
 * max_buffer_size records and counts the dropped ones, and they arrive once
 * the server is back. A restarted server gets the records logged after it
 * closed our connection, and a script that exits with the server down
 * neither hangs nor hides the loss.
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Logger;
use LogHog\Tests\Support\Env;
use PHPUnit\Framework\TestCase;

final class ServerDownTest extends TestCase
{
    public function testRecordsAreBufferedWhileDownAndArriveWhenTheServerIsBack(): void
    {
        $port = Env::freePort();
        $messages = [];
        $log = new Logger('php-down', [
            'host' => '127.0.0.1', 'port' => $port, 'max_buffer_size' => 5,
            'debug' => function (string $m) use (&$messages): void {
                $messages[] = $m;
            },
        ]);
        for ($i = 0; $i < 8; $i++) {
            $log->info("while down $i");
        }
        // The back-off keeps the other seven calls from trying to connect.
        self::assertSame(1, $log->sender()?->connectAttempts());
        self::assertSame(5, $log->pending());
        self::assertSame(3, $log->dropped());
        self::assertSame(0, $log->delivered());
        self::assertStringContainsString("cannot connect to tcp://127.0.0.1:$port", $messages[0] ?? '');

        $daemon = Env::start(null, '', "127.0.0.1:$port");
        self::assertTrue($log->flush(5.0), $log->lastError());
        self::assertSame(
            array_map(fn ($i) => "INFO - while down $i", range(3, 7)),
            $daemon->waitBodies('php-down/root.log', 5),
        );
        self::assertSame(3, $log->dropped());
        self::assertSame(5, $log->delivered());
        $daemon->stop();
    }

    public function testARestartedServerGetsTheRecordsLoggedAfterItWentAway(): void
    {
        $first = Env::start();
        $port = $first->tcpPort;
        $log = new Logger('php-down', ['host' => '127.0.0.1', 'port' => $port, 'module' => 'restart']);
        $log->info('before restart');
        self::assertTrue($log->flush(5.0));
        self::assertSame(['INFO - before restart'], $first->waitBodies('php-down/root.log', 1));
        $first->stop();

        $second = Env::start(null, '', "127.0.0.1:$port");
        // The old connection is closed: the next call notices and reconnects.
        $log->info('after restart');
        self::assertTrue($log->flush(5.0), $log->lastError());
        self::assertSame(['INFO - after restart'], $second->waitBodies('php-down/root.log', 1));
        self::assertSame(0, $log->dropped());
        $second->stop();
    }

    public function testAScriptExitingWithTheServerDownReportsTheLossAndExits(): void
    {
        $port = Env::freePort();
        $script = sprintf(
            'require %s; $l = new LogHog\Logger("php-down", ["host" => "127.0.0.1", "port" => %d, "debug" => true]);'
            . ' for ($i = 0; $i < 3; $i++) { $l->info("lost $i"); } echo "done\n";',
            var_export(dirname(__DIR__) . '/autoload.php', true),
            $port,
        );
        [$out, $err] = Env::run([PHP_BINARY, '-r', $script], sys_get_temp_dir());
        self::assertSame("done\n", $out);
        self::assertStringContainsString('3 record(s) not delivered at shutdown; dropped', $err);
    }

    public function testRecordsLoggedJustBeforeExitAreDeliveredByTheShutdownFlush(): void
    {
        // 1 MB in a burst fills the socket, so the last records are still
        // buffered when the script ends; a generous timeout bounds the flush.
        $script = sprintf(
            'require %s; $l = new LogHog\Logger("php-down", ["host" => "127.0.0.1", "port" => %d, "module" => "exit", "timeout" => 2.0]);'
            . ' for ($i = 0; $i < 200; $i++) { $l->info("at exit $i " . str_repeat("x", 5000)); }',
            var_export(dirname(__DIR__) . '/autoload.php', true),
            Env::daemon()->tcpPort,
        );
        [$out, $err] = Env::run([PHP_BINARY, '-r', $script], sys_get_temp_dir());
        self::assertSame('', $out . $err);
        $bodies = Env::daemon()->waitBodies('php-down/root.log', 200);
        self::assertSame('INFO - at exit 199 ' . str_repeat('x', 5000), $bodies[199]);
    }
}
