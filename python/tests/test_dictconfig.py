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
