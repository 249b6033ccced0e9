"""Logging to a daemon on another machine. loghogd listens on 127.0.0.1
only by default: set ``listen_ipv4`` in its loghogd.conf first.

    python examples/remote.py logs.example.com 5566

Every address the host name resolves to is tried, in random order, so a
name with several addresses spreads clients over them and fails over.
"""

import logging
import sys

from loghog import LoghogHandler

host = sys.argv[1] if len(sys.argv) > 1 else "localhost"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 5566

handler = LoghogHandler("my-first-app", host=host, port=port)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))

logger = logging.getLogger()
logger.addHandler(handler)
logger.setLevel(logging.INFO)

logger.info("Hello from far away")
