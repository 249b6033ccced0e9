<?php

/**
 * Autoloader for using LogHog without Composer (copy the php/ folder and
 * require this file). Maps LogHog\ to src/ (PSR-4) and, when no other
 * autoloader provides them, falls back to Debian's php-psr-log and
 * php-monolog autoloaders under /usr/share/php, so nothing from Packagist
 * is needed.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'LogHog\\', 7) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 7)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

// Debian's own autoloaders, only when the application has not loaded
// psr/log or Monolog some other way (Composer's vendor/ wins).
if (!interface_exists(\Psr\Log\LoggerInterface::class)
    && is_file('/usr/share/php/Psr/Log/autoload.php')) {
    require_once '/usr/share/php/Psr/Log/autoload.php';
}
if (!class_exists(\Monolog\Logger::class)
    && is_file('/usr/share/php/Monolog/autoload.php')) {
    require_once '/usr/share/php/Monolog/autoload.php';
}
