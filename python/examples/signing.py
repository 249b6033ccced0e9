"""Message signing: when facilities.conf gives an application a ``secret``,
loghogd accepts only records signed with it (HMAC-MD5). Signing works over
UDP too. The demo's [signed-app] uses the secret ``change-me``.

    python examples/signing.py     # then: cat demo/var/log/signed-app/root.log
"""

import logging

from loghog import LoghogHandler

handler = LoghogHandler("signed-app", secret="change-me")
handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))

logger = logging.getLogger()
logger.addHandler(handler)
logger.setLevel(logging.INFO)

logger.info("This message is signed")
