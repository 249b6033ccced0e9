<?php

/**
 * PHPUnit bootstrap: the package's own autoloader (which also loads
 * Debian's psr/log and Monolog), the test support classes, and a check
 * that the daemon binary exists. Daemons are started on demand by
 * Support\Env and stopped by PID at exit.
 */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';
require __DIR__ . '/Support/Daemon.php';
require __DIR__ . '/Support/Env.php';

LogHog\Tests\Support\Env::loghogd();
