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
    /** @return array<string, array{0: string, 1: array<string, list<string>>}> script, and the bodies expected in each log file */
    public function examples(): array
    {
        return [
            'psr3' => ['psr3.php', [
                'my-first-app/root.log' => ['INFO - Hello world!', 'WARNING - Disk /var is 91% full', 'ERROR - Checkout failed'],
                'my-first-app/web.requests.log' => ['INFO - GET /index.html 200'],
            ]],
            'monolog' => ['monolog.php', [
                'my-first-app/web.requests.log' => ['INFO - GET /index.html 200', 'ERROR - POST /checkout 502 {"upstream":"payments"}'],
            ]],
            'signing' => ['signing.php', ['app-with-secret/root.log' => ['INFO - signed message']]],
            'tls' => ['tls.php', ['my-first-app/root.log' => ['INFO - Hello over TLS!']]],
        ];
    }

    /**
     * Each example gets a daemon of its own, so the files hold exactly what
     * it sent.
     *
     * @dataProvider examples
     * @param array<string, list<string>> $expected
     */
    public function testExampleRunsAndItsRecordsArrive(string $script, array $expected): void
    {
        $c = Env::certs();
        $d = Env::start(null, "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {$c['server']}\ncacert = {$c['ca']}\n");
        $env = getenv();
        $env['LOGHOG_HOST'] = '127.0.0.1';
        $env['LOGHOG_PORT'] = (string) $d->tcpPort;
        $env['LOGHOG_TLS_PORT'] = (string) $d->tlsPort;
        $env['LOGHOG_PEMFILE'] = $c['client'];
        $env['LOGHOG_CACERT'] = $c['ca'];
        [$out, $err] = Env::run([PHP_BINARY, dirname(__DIR__) . "/examples/$script"], sys_get_temp_dir(), $env);
        self::assertSame('', $out . $err);
        foreach ($expected as $file => $bodies) {
            // Continuation lines of a multi-line body (a trace) have no level prefix.
            $levelled = fn () => array_values(array_filter(
                array_map([Daemon::class, 'body'], $d->lines($file)),
                static fn (string $b) => preg_match('/^[A-Z]+ - /', $b) === 1,
            ));
            Daemon::poll(fn () => count($levelled()) >= count($bodies));
            self::assertSame($bodies, $levelled(), "$file after $script:\n" . substr($d->output(), -1500));
        }
        $d->stop();
    }

    public function testEveryExampleIsRunByThisTest(): void
    {
        $scripts = array_map('basename', glob(dirname(__DIR__) . '/examples/*.php') ?: []);
        $tested = array_column($this->examples(), 0);
        sort($scripts);
        sort($tested);
        self::assertSame($scripts, $tested);
    }
}
