<?php

// The PSR-3 logger: `php examples/psr3.php` with loghogd on localhost:5566
// and an [my-first-app] section in facilities.conf. LOGHOG_HOST and
// LOGHOG_PORT point it elsewhere.

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use LogHog\Logger;

$log = new Logger('my-first-app', [
    'host' => getenv('LOGHOG_HOST') ?: 'localhost',
    'port' => (int) (getenv('LOGHOG_PORT') ?: 5566),
]);

$log->info('Hello world!');
$log->warning('Disk {mount} is {percent}% full', ['mount' => '/var', 'percent' => 91]);

// A logger for another facility ([my-first-app:web.requests]), same connection.
$web = $log->withModule('web.requests');
$web->info('GET /index.html 200');

try {
    throw new RuntimeException('payment service unreachable');
} catch (RuntimeException $e) {
    $log->error('Checkout failed', ['exception' => $e]);
}
// Nothing to close: what is still buffered is written when the script ends.
