"""TLS: the connection is encrypted and both sides prove who they are with
certificates from the same CA (mutual TLS).

On the server, once:

    loghog-server-cert            # loghog-ca.key, loghog-ca.cert, loghog-server.pem
    loghog-client-cert `hostname` # `hostname`.pem for this client

and in loghogd.conf's [server]: ``listen_ipv4_ssl = 127.0.0.1``,
``pemfile = loghog-server.pem``, ``cacert = loghog-ca.cert``. Then:

    python examples/encrypted.py myhost.pem loghog-ca.cert

The server's certificate is checked against the CA, not against the host
name (as the 0.7 client did), so the daemon may be reached by address.
"""

import logging
import sys

from loghog import LoghogHandler

pemfile = sys.argv[1] if len(sys.argv) > 1 else "client.pem"
cacert = sys.argv[2] if len(sys.argv) > 2 else "loghog-ca.cert"

handler = LoghogHandler(
    "my-first-app",
    port=5577,
    ssl_info={"pemfile": pemfile, "cacert": cacert},
)
handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))

logger = logging.getLogger()
logger.addHandler(handler)
logger.setLevel(logging.INFO)

logger.info("This message travelled encrypted")
