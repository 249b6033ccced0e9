"""The LOGGING setting of a Django project (settings.py) that sends
Django's records to LogHog. ``logging.config.dictConfig`` builds the
handler, so nothing but the class path names LogHog.

    python examples/django_settings.py   # applies it without Django
"""

LOGHOG_APP_NAME = "my-first-app"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": True,
    "formatters": {
        "simple": {"format": "%(levelname)s - %(message)s"},
    },
    "handlers": {
        "root": {
            "level": "DEBUG",
            "class": "loghog.LoghogHandler",
            "app_name": LOGHOG_APP_NAME,
            "formatter": "simple",
        },
    },
    "loggers": {
        "root": {"handlers": ["root"], "propagate": False, "level": "INFO"},
        "django": {"handlers": ["root"], "propagate": False, "level": "INFO"},
        "django.request": {"handlers": ["root"], "propagate": False, "level": "DEBUG"},
    },
}

if __name__ == "__main__":
    import logging
    import logging.config

    logging.config.dictConfig(LOGGING)
    logging.getLogger("django").info("Hello from Django's logger")
