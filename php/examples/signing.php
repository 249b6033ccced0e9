<?php

// Signed records: facilities.conf has
//   [app-with-secret]
//   secret = my-big-secret
// and loghogd drops records of that app that are unsigned or signed with
// another secret. Add 'compression' => true to zlib large records.

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use LogHog\Logger;

$log = new Logger('app-with-secret', [
    'host' => getenv('LOGHOG_HOST') ?: 'localhost',
    'port' => (int) (getenv('LOGHOG_PORT') ?: 5566),
    'secret' => 'my-big-secret',
    'compression' => true,
]);
$log->info('signed message');
