"""The Django settings fragment of SPEC §9 configures LoghogHandler."""

import logging
import logging.config

from conftest import bodies


def test_django_logging_fragment(daemon):
    LOGGING = {
        "version": 1,
        "handlers": {
            "root": {
                "level": "DEBUG",
                "class": "loghog.LoghogHandler",
                "app_name": "my-first-app",
                "formatter": "simple",
                # Only the port differs from the SPEC's fragment: the test
                # daemon listens on a port the OS picked.
                "host": "127.0.0.1",
                "port": daemon.tcp_port,
            },
        },
        "formatters": {"simple": {"format": "%(levelname)s - %(message)s"}},
        "loggers": {"django": {"handlers": ["root"], "level": "INFO", "propagate": False}},
    }
    logging.config.dictConfig(LOGGING)
    django = logging.getLogger("django")
    try:
        from loghog import LoghogHandler

        (handler,) = django.handlers
        assert isinstance(handler, LoghogHandler)
        django.debug("below the logger's level")
        django.info("Hello world!")
        logging.getLogger("django.request").error("Internal Server Error: /")
        lines = daemon.wait_lines("my-first-app/root.log", 2)
        assert bodies(lines) == ["INFO - Hello world!", "ERROR - Internal Server Error: /"]
    finally:
        logging.config.dictConfig({"version": 1, "loggers": {"django": {"handlers": []}}})
        for h in list(django.handlers):
            django.removeHandler(h)
        handler.close()


def test_file_config_with_positional_args(daemon, tmp_path):
    # logging.config.fileConfig passes `args` positionally: the 0.7 order.
    ini = tmp_path / "logging.ini"
    ini.write_text(
        "[loggers]\nkeys=root,app\n\n"
        "[handlers]\nkeys=loghog\n\n"
        "[formatters]\nkeys=simple\n\n"
        "[logger_root]\nlevel=WARNING\nhandlers=\n\n"
        "[logger_app]\nlevel=INFO\nhandlers=loghog\nqualname=fileconfig.app\npropagate=0\n\n"
        "[handler_loghog]\nclass=loghog.LoghogHandler\nlevel=DEBUG\nformatter=simple\n"
        "args=('test-app', '127.0.0.1', %d, True, None, True, 'ini-host')\n\n"
        "[formatter_simple]\nformat=%%(levelname)s - %%(message)s\n" % daemon.tcp_port
    )
    logging.config.fileConfig(str(ini), disable_existing_loggers=False)
    app = logging.getLogger("fileconfig.app")
    (handler,) = app.handlers
    try:
        app.info("from an ini file")
        line = daemon.wait_lines("test-app/root.log", 1)[0]
        assert line.endswith(" - ini-host - INFO - from an ini file")
    finally:
        app.removeHandler(handler)
        handler.close()
