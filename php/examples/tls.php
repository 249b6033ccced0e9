<?php

// Mutual TLS: the client pem from `loghog-client-cert NAME` and the CA
// certificate `loghog-ca.cert` from `loghog-server-cert`, to a TLS listener
// (listen_ipv4_ssl, port 5577 by convention). The server certificate is
// checked against the CA, not by host name.
//   LOGHOG_PEMFILE=web01.pem LOGHOG_CACERT=loghog-ca.cert php examples/tls.php

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use LogHog\Logger;

$log = new Logger('my-first-app', [
    'host' => getenv('LOGHOG_HOST') ?: 'localhost',
    'port' => (int) (getenv('LOGHOG_TLS_PORT') ?: 5577),
    'pemfile' => getenv('LOGHOG_PEMFILE') ?: 'web01.pem',
    'cacert' => getenv('LOGHOG_CACERT') ?: 'loghog-ca.cert',
    // A TLS handshake takes a few round trips: allow more than the 50 ms default.
    'timeout' => 0.5,
    'debug' => true,
]);
$log->info('Hello over TLS!');
