<?php

/**
 * The test environment: where the debug binaries are, a temp dir removed
 * at the end, certificates made by the real loghog-server-cert and
 * loghog-client-cert, and one shared daemon (TCP, UDP and TLS listeners)
 * whose facilities give every test an app of its own.
 */

declare(strict_types=1);

namespace LogHog\Tests\Support;

/** Process-wide fixtures of the PHP test suite. */
final class Env
{
    /** Sections of the shared daemon's facilities.conf: one app per test topic; the signed ones have a secret. */
    public const APPS = [
        'php-tcp', 'php-udp', 'php-zlib', 'php-unicode', 'php-psr3', 'php-module', 'php-module:web',
        'php-tls', 'php-tls-bad', 'php-monolog', 'php-monolog:billing', 'php-debug', 'php-down', 'php-big', 'php-exception', 'php-tls-big', 'php-localhost',
        'my-first-app', 'my-first-app:web.requests',
    ];

    /** Apps whose records must be signed with SECRET. */
    public const SIGNED_APPS = ['php-signed', 'app-with-secret'];

    public const SECRET = 'my-big-secret';

    private static ?string $tmp = null;
    private static ?Daemon $shared = null;
    /** @var list<Daemon> */
    private static array $started = [];
    private static int $count = 0;

    /** The directory of the debug binaries (CARGO_TARGET_DIR or ../target, debug). */
    public static function binDir(): string
    {
        $target = getenv('CARGO_TARGET_DIR') ?: dirname(__DIR__, 3) . '/target';
        if ($target[0] !== '/') {
            $target = dirname(__DIR__, 3) . '/' . $target;
        }
        return $target . '/debug';
    }

    /** The loghogd binary ($LOGHOGD or the debug build). */
    public static function loghogd(): string
    {
        $bin = getenv('LOGHOGD') ?: self::binDir() . '/loghogd';
        if (!is_executable($bin)) {
            throw new \RuntimeException("$bin not found: run `cargo build -p loghog-daemon -p loghog-cli` first");
        }
        return $bin;
    }

    /** A temp dir for this run, removed at exit. */
    public static function tmp(): string
    {
        if (self::$tmp === null) {
            $dir = sys_get_temp_dir() . '/loghog-php-' . getmypid() . '-' . bin2hex(random_bytes(4));
            mkdir($dir, 0700, true);
            self::$tmp = $dir;
            register_shutdown_function([self::class, 'cleanUp']);
        }
        return self::$tmp;
    }

    /**
     * Certificates from the real tools: CA + server pem in certs/, a client
     * pem signed by that CA, and a second, unrelated CA for the negative test.
     *
     * @return array{ca: string, server: string, client: string, otherCa: string}
     */
    public static function certs(): array
    {
        $dir = self::tmp() . '/certs';
        $other = self::tmp() . '/other-ca';
        if (!is_dir($dir)) {
            mkdir($dir, 0700);
            mkdir($other, 0700);
            self::run([self::binDir() . '/loghog-server-cert'], $dir);
            self::run([self::binDir() . '/loghog-client-cert', 'php-client', $dir], $dir);
            self::run([self::binDir() . '/loghog-server-cert'], $other);
        }
        return [
            'ca' => "$dir/loghog-ca.cert",
            'server' => "$dir/loghog-server.pem",
            'client' => "$dir/php-client.pem",
            'otherCa' => "$other/loghog-ca.cert",
        ];
    }

    /** The daemon shared by the tests: plain TCP + UDP and a mutual-TLS listener. */
    public static function daemon(): Daemon
    {
        if (self::$shared === null) {
            $c = self::certs();
            self::$shared = self::start(
                null,
                "listen_ipv4_ssl = 127.0.0.1:0\npemfile = {$c['server']}\ncacert = {$c['ca']}\n",
            );
        }
        return self::$shared;
    }

    /** The facilities.conf text for APPS and SIGNED_APPS. */
    public static function facilities(): string
    {
        $text = '';
        foreach (self::APPS as $app) {
            $text .= "[$app]\nrotate = daily\nbackup_count = 3\n\n";
        }
        foreach (self::SIGNED_APPS as $app) {
            $text .= "[$app]\nrotate = daily\nbackup_count = 3\nsecret = " . self::SECRET . "\n\n";
        }
        return $text;
    }

    /** Starts a daemon of the test's own; stopped at exit (or by the test). */
    public static function start(?string $facilities = null, string $extraServer = '', string $listen = '127.0.0.1:0'): Daemon
    {
        $d = new Daemon(self::loghogd(), self::tmp() . '/d' . self::$count++, $facilities ?? self::facilities(), $extraServer, $listen);
        self::$started[] = $d;
        return $d;
    }

    /** A TCP port that was free a moment ago. */
    public static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr((string) $name, strrpos((string) $name, ':') + 1);
    }

    /**
     * Runs a command in $cwd; fails with its output unless it exits 0.
     *
     * @param list<string> $cmd
     * @param array<string, string>|null $env
     * @return array{0: string, 1: string} stdout and stderr
     */
    public static function run(array $cmd, string $cwd, ?array $env = null): array
    {
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $cwd, $env);
        if ($p === false) {
            throw new \RuntimeException('cannot run ' . implode(' ', $cmd));
        }
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $rc = proc_close($p);
        if ($rc !== 0) {
            throw new \RuntimeException(sprintf("%s exited %d:\n%s%s", implode(' ', $cmd), $rc, $out, $err));
        }
        return [(string) $out, (string) $err];
    }

    /** Stops every daemon and removes the temp dir. */
    public static function cleanUp(): void
    {
        foreach (self::$started as $d) {
            try {
                $d->stop();
            } catch (\Throwable $e) {
                // Keep stopping the others; say which one may be left.
                fwrite(STDERR, "cannot stop loghogd pid {$d->pid}: {$e->getMessage()}\n");
            }
        }
        self::$started = [];
        if (self::$tmp !== null && getenv('LOGHOG_KEEP_TMP') === false) {
            self::rmTree(self::$tmp);
        }
    }

    private static function rmTree(string $path): void
    {
        if (is_dir($path) && !is_link($path)) {
            foreach (scandir($path) ?: [] as $e) {
                if ($e !== '.' && $e !== '..') {
                    self::rmTree("$path/$e");
                }
            }
            @rmdir($path);
        } else {
            @unlink($path);
        }
    }
}
