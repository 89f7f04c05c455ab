"""gunicorn settings for the web process: `gunicorn -c python:infra.gunicorn_config 'wsgi:create_app()'`.

`hongguan run` starts gunicorn with this module and so should production (README, "Deploying for real"); a
command-line flag overrides a value here (`--workers 4`, `--bind 0.0.0.0:8000`).

Worker class: gthread. A sync worker is one request at a time, so two clients sending a body at 1 byte/s, or
two mini-program logins waiting on jscode2session, occupied both workers and WeChat's pushes queued behind
them (18 s and 9.7 s; WeChat gives up at 5 s). A gthread worker reads each connection in one of its threads,
so a slow client holds one thread of 16 per process and the others keep answering; idle keep-alive
connections wait in the worker's poller, not in a thread. bench/slow_clients.py measures it (docs/benchmarks.md).
In production nginx in front buffers whole requests (`proxy_request_buffering on`, the default) and times out
slow senders itself, so gunicorn only ever sees complete requests.
https://docs.gunicorn.org/en/stable/design.html and https://docs.gunicorn.org/en/stable/settings.html

The access log goes through the project's redaction: query strings (a push URL carries the openid, the
signature and the nonce) are redacted, and every gunicorn log line passes `infra.privacy.RedactingFilter`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from infra import privacy

wsgi_app = "wsgi:create_app()"
bind = ["127.0.0.1:5000"]
workers = 2
worker_class = "gthread"
threads = 16  # per worker: slow bodies and slow upstream calls hold a thread each, not the process
preload_app = True  # jieba's dictionary and the model loaded once, shared copy-on-write by the workers
timeout = 30  # a worker whose main loop is silent this long is killed and replaced
graceful_timeout = 10  # on SIGTERM, requests in flight get this long to finish
keepalive = 5  # seconds an idle keep-alive connection is kept (the poller holds it, not a thread)
max_requests = 0  # workers are not recycled: nothing leaks, and a recycled worker reloads nothing (preload)
limit_request_line = 8190  # a push URL is under 400 bytes
control_socket_disable = True  # gunicorn 27 would otherwise create ~/.gunicorn/gunicorn.ctl
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


class RedactingLogger(Logger):
    """gunicorn's logger with redacted request lines, referrers and query strings, and the redaction filter."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's set-up, then the redaction filter on its error and access loggers."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, privacy.RedactingFilter) for f in log.filters):
                log.addFilter(privacy.RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> dict[str, Any]:
        """The access-log fields, with every URL's query string redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = (
            f"{environ['REQUEST_METHOD']} {privacy.redact_url(environ['RAW_URI'])} {environ['SERVER_PROTOCOL']}"
        )
        atoms["q"] = privacy.redact_query(environ.get("QUERY_STRING", ""))
        atoms["f"] = privacy.redact_url(environ.get("HTTP_REFERER", "-"))
        for key in [k for k in atoms if k.startswith("{") and k.endswith("}i")]:
            atoms[key] = privacy.redact_text(str(atoms[key]))  # request headers, should a format name one
        return atoms


logger_class = RedactingLogger
