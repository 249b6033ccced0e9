"""The smallest setup: every record of the root logger goes to loghogd on
localhost:5566 as application ``my-first-app``.

    python examples/simple.py      # then: cat demo/var/log/my-first-app/root.log
"""

import logging

from loghog import LoghogHandler

handler = LoghogHandler("my-first-app")
handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))

logger = logging.getLogger()
logger.addHandler(handler)
logger.setLevel(logging.INFO)

logger.info("Hello world!")
# A logger named after a facility ([my-first-app:web.requests]) gets a file
# of its own.
logging.getLogger("web.requests").info("GET / 200")
# Nothing more to do: logging.shutdown() at exit delivers what is queued.
