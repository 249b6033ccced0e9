<?php

/**
 * Every script in php/examples/ runs, in a fresh PHP process, against the
 * shared daemon, prints nothing and exits 0, and its records arrive.
 */

declare(strict_types=1);

namespace LogHog\Tests;

use LogHog\Tests\Support\Daemon;
use LogHog\Tests\Support\Env;
use PHPUnit\Framework\TestCase;

final class ExamplesTest extends TestCase
{
    /** @return array<string, array{0: string, 1: string, 2: list<string>}> script, log file, bodies expected in it */
    public function examples(): array
    {
        return [
            'psr3' => ['psr3.php', 'my-first-app/root.log', ['INFO - Hello world!', 'WARNING - Disk /var is 91% full', 'ERROR - Checkout failed']],
            'psr3 module' => ['psr3.php', 'my-first-app/web.requests.log', ['INFO - GET /index.html 200']],
            'monolog' => ['monolog.php', 'my-first-app/web.requests.log', ['INFO - GET /index.html 200', 'ERROR - POST /checkout 502 {"upstream":"payments"}']],
            'signing' => ['signing.php', 'app-with-secret/root.log', ['INFO - signed message']],
            'tls' => ['tls.php', 'my-first-app/root.log', ['INFO - Hello over TLS!']],
        ];
    }

    /**
     * @dataProvider examples
     * @param list<string> $expected
     */
    public function testExampleRunsAndItsRecordsArrive(string $script, string $file, array $expected): void
    {
        $d = Env::daemon();
        $c = Env::certs();
        $env = getenv() + [];
        $env['LOGHOG_HOST'] = '127.0.0.1';
        $env['LOGHOG_PORT'] = (string) $d->tcpPort;
        $env['LOGHOG_TLS_PORT'] = (string) $d->tlsPort;
        $env['LOGHOG_PEMFILE'] = $c['client'];
        $env['LOGHOG_CACERT'] = $c['ca'];
        $before = count($d->lines($file));
        [$out, $err] = Env::run([PHP_BINARY, dirname(__DIR__) . "/examples/$script"], sys_get_temp_dir(), $env);
        self::assertSame('', $out . $err);
        $found = Daemon::poll(function () use ($d, $file, $before, $expected): bool {
            $bodies = array_map([Daemon::class, 'body'], array_slice($d->lines($file), $before));
            return array_values(array_intersect($bodies, $expected)) === $expected;
        });
        self::assertTrue($found, "$file after $script:\n" . implode("\n", array_slice($d->lines($file), $before)) . "\n" . substr($d->output(), -1500));
    }
}
