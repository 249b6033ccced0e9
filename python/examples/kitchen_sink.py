"""Every option at once, plus what a long-running service cares about:
the drop counter, an explicit flush, and a pre-fork worker model.

    python examples/kitchen_sink.py
"""

import logging
import os
import socket
import sys

from loghog import LoghogHandler

handler = LoghogHandler(
    "my-first-app",  # app_name: a section of the server's facilities.conf
    host="localhost",  # every address it resolves to is tried
    port=5566,
    stream=True,  # TCP; False for UDP
    secret=None,  # e.g. "change-me" for an app with a secret
    compression=True,  # zlib, for long records over slow links
    hostname=socket.gethostname(),  # the default; sent with every record
    ssl_info=None,  # {"pemfile": "client.pem", "cacert": "loghog-ca.cert"}
    max_buffer_size=4096,  # records held while the server is away
    print_debug=True,  # print connection errors to stdout
)
handler.setFormatter(
    logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s - %(message)s")
)
# How long flush() and close() (so logging.shutdown()) may wait, in seconds.
handler.flush_timeout = 2.0
handler.close_timeout = 5.0

logger = logging.getLogger()
logger.addHandler(handler)
logger.setLevel(logging.DEBUG)

logger.debug("Starting up")
logging.getLogger("web.requests").info("GET /index.html 200")
try:
    1 / 0
except ZeroDivisionError:
    logger.exception("Tracebacks arrive as one record")

# Pre-fork workers (gunicorn, uwsgi, mod_wsgi): the handler made in the
# master works in every worker, each with a sender thread of its own.
workers = []
for n in range(2):
    pid = os.fork()
    if pid == 0:
        logger.info("worker %d serving", n)
        sys.exit(0)  # logging.shutdown() at exit delivers the queue
    workers.append(pid)
for pid in workers:
    os.waitpid(pid, 0)

handler.flush()
print("delivered %d, dropped %d, pending %d" % (handler.delivered, handler.dropped, handler.pending))
