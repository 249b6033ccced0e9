<?php

/**
 * What one log call costs a PHP application: LogHog\Logger over TCP (and
 * variants) next to Monolog's StreamHandler appending to a local file.
 * Starts a real loghogd ($LOGHOGD, else target/debug) on a free port in a
 * temp dir through the test support classes; for each row times N calls
 * of `->info(...)` (best of 3), wall and process CPU time per call, and
 * checks what was delivered and dropped.
 *
 *     php php/bench/log_call.php [calls]
 */

declare(strict_types=1);

require dirname(__DIR__) . '/tests/bootstrap.php';

use LogHog\Logger;
use LogHog\Monolog\LoghogHandler;
use LogHog\Tests\Support\Env;
use Monolog\Handler\StreamHandler;
use Monolog\Logger as Monolog;

$n = (int) ($argv[1] ?? 100000);
$daemon = Env::daemon();
$base = ['host' => '127.0.0.1', 'port' => $daemon->tcpPort];
$message = 'request handled in 12 ms: GET /index.html 200';

/** @return array{0: float, 1: float} wall µs and CPU µs per call, best of 3 */
function measure(callable $call, int $n): array
{
    $best = [INF, INF];
    for ($run = 0; $run < 3; $run++) {
        $r0 = getrusage();
        $t0 = hrtime(true);
        for ($i = 0; $i < $n; $i++) {
            $call();
        }
        $wall = (hrtime(true) - $t0) / 1e3 / $n;
        $r1 = getrusage();
        $cpu = (($r1['ru_utime.tv_sec'] - $r0['ru_utime.tv_sec'] + $r1['ru_stime.tv_sec'] - $r0['ru_stime.tv_sec']) * 1e6
            + $r1['ru_utime.tv_usec'] - $r0['ru_utime.tv_usec'] + $r1['ru_stime.tv_usec'] - $r0['ru_stime.tv_usec']) / $n;
        if ($wall < $best[0]) {
            $best = [$wall, $cpu];
        }
    }
    return $best;
}

$rows = [];
$file = Env::tmp() . '/monolog-stream.log';
$stream = new StreamHandler($file); // Monolog's default LineFormatter
$mono = new Monolog('web', [$stream]);
$rows['Monolog StreamHandler, local file'] = [measure(fn () => $mono->info($message), $n), null];

$log = new Logger('php-tcp', $base);
$rows['LogHog\\Logger, TCP'] = [measure(fn () => $log->info($message), $n), $log];

$handler = new LoghogHandler('php-monolog', $base + ['max_buffer_size' => 1025]);
$viaMonolog = new Monolog('web', [$handler]);
$rows['Monolog + LoghogHandler, TCP'] = [measure(fn () => $viaMonolog->info($message), $n), $handler->client()];

$signed = new Logger('php-signed', $base + ['secret' => Env::SECRET, 'compression' => true, 'max_buffer_size' => 1026]);
$rows['LogHog\\Logger, TCP, signed + zlib'] = [measure(fn () => $signed->info($message), $n), $signed];

$udp = new Logger('php-udp', ['host' => '127.0.0.1', 'port' => $daemon->udpPort, 'stream' => false]);
$rows['LogHog\\Logger, UDP'] = [measure(fn () => $udp->info($message), $n), $udp];

$down = new Logger('php-down', ['host' => '127.0.0.1', 'port' => Env::freePort()]);
$rows['LogHog\\Logger, server down'] = [measure(fn () => $down->info($message), $n), $down];

printf("PHP %s, %d calls per run, best of 3\n\n", PHP_VERSION, $n);
printf("| call | wall µs/call | process CPU µs/call | delivered | dropped |\n| --- | ---: | ---: | ---: | ---: |\n");
foreach ($rows as $name => [[$wall, $cpu], $client]) {
    if ($client !== null) {
        $client->flush(10.0);
    }
    printf(
        "| %s | %.2f | %.2f | %s | %s |\n",
        $name,
        $wall,
        $cpu,
        $client ? $client->delivered() : '-',
        $client ? $client->dropped() : '-',
    );
}
