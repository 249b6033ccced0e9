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

    /** @return array<string, array{0: bool}> */
    public function transports(): array
    {
        return ['tcp' => [false], 'tls' => [true]];
    }

    /** @dataProvider transports */
    public function testARestartedServerGetsTheRecordsLoggedAfterItWentAway(bool $tls): void
    {
        $c = Env::certs();
        $extra = $tls ? "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {$c['server']}\ncacert = {$c['ca']}\n" : '';
        $first = Env::start(null, $extra);
        $port = $tls ? (int) $first->tlsPort : $first->tcpPort;
        $messages = [];
        $log = new Logger('php-down', ['host' => '127.0.0.1', 'port' => $port, 'timeout' => 2.0, 'debug' => function (string $m) use (&$messages): void {
            $messages[] = $m;
        }] + ($tls ? ['pemfile' => $c['client'], 'cacert' => $c['ca']] : []));
        $log->info('before restart');
        self::assertTrue($log->flush(5.0));
        self::assertSame(['INFO - before restart'], $first->waitBodies('php-down/root.log', 1));
        $first->stop();

        $second = $tls
            ? Env::start(null, "listen_ipv4_ssl = 127.0.0.1:$port\npemfile = {$c['server']}\ncacert = {$c['ca']}\n")
            : Env::start(null, '', "127.0.0.1:$port");
        // The old connection is closed: the next call notices and reconnects.
        $log->info('after restart');
        self::assertTrue($log->flush(5.0), $log->lastError());
        self::assertSame(['INFO - after restart'], $second->waitBodies('php-down/root.log', 1));
        self::assertSame(0, $log->dropped());
        $scheme = $tls ? 'ssl' : 'tcp';
        self::assertSame(["loghog: $scheme://127.0.0.1:$port closed the connection; reconnecting"], $messages);
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

    public function testRecordsStillBufferedAtExitAreDeliveredByTheShutdownFlush(): void
    {
        // The script logs while nothing listens (the record is buffered and
        // the sender backs off), waits until the test has started a daemon,
        // logs again (still backing off, so nothing is written) and exits:
        // only the shutdown flush can deliver the records, including one
        // logged by a shutdown function registered after the logger.
        $port = Env::freePort();
        $script = sprintf(
            'require %s; $l = new LogHog\Logger("php-down", ["host" => "127.0.0.1", "port" => %d, "module" => "exit", "timeout" => 2.0]);'
            . ' $l->info("logged while down"); echo "ready\n"; fgets(STDIN);'
            . ' $l->info("logged just before exit"); echo $l->pending(), " pending\n";'
            . ' register_shutdown_function(function () use ($l) { $l->info("logged by a later shutdown function"); });',
            var_export(dirname(__DIR__) . '/autoload.php', true),
            $port,
        );
        $proc = proc_open([PHP_BINARY, '-r', $script], [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        self::assertIsResource($proc);
        self::assertSame("ready\n", fgets($pipes[1]));
        $daemon = Env::start(null, '', "127.0.0.1:$port");
        fwrite($pipes[0], "go\n");
        fclose($pipes[0]);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        self::assertSame(0, proc_close($proc), $err);
        self::assertSame("2 pending\n", $out);
        self::assertSame('', $err);
        self::assertSame(
            ['INFO - logged while down', 'INFO - logged just before exit', 'INFO - logged by a later shutdown function'],
            $daemon->waitBodies('php-down/root.log', 3),
        );
        $daemon->stop();
    }
}
