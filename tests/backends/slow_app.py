"""A WSGI app for gunicorn in the tests: answers after ?seconds (default 30),
so a gunicorn --timeout shorter than that kills the worker mid-request."""

import time


def app(environ, start_response):
    seconds = float(environ.get("QUERY_STRING") or 30)
    time.sleep(seconds)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"finally\n"]
