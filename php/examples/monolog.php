<?php

// The Monolog handler: the channel ("web.requests") is the module, so this
// goes to [my-first-app:web.requests]. Run like examples/psr3.php.

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use LogHog\Monolog\LoghogHandler;
use Monolog\Logger;
use Monolog\Processor\PsrLogMessageProcessor;

$handler = new LoghogHandler('my-first-app', [
    'host' => getenv('LOGHOG_HOST') ?: 'localhost',
    'port' => (int) (getenv('LOGHOG_PORT') ?: 5566),
], Logger::INFO);

$logger = new Logger('web.requests', [$handler], [new PsrLogMessageProcessor(null, true)]); // true: drop the context keys used by placeholders
$logger->info('GET {path} {status}', ['path' => '/index.html', 'status' => 200]);
$logger->debug('not sent: below the handler level');
$logger->error('POST /checkout 502', ['upstream' => 'payments']);
