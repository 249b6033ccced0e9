"""Sending over UDP: one datagram per record, no connection to keep. Nothing
tells the client of a lost datagram, so prefer TCP unless you need this.

    python examples/udp.py
"""

import logging

from loghog import LoghogHandler

handler = LoghogHandler("my-first-app", stream=False)
handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))

logger = logging.getLogger()
logger.addHandler(handler)
logger.setLevel(logging.INFO)

for i in range(3):
    logger.info("datagram number %d", i)
