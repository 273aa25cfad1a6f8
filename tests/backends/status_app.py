"""A WSGI app for uWSGI in the tests: a path whose last part is three digits
(/status/503) is answered with that status, anything else with 200. uWSGI
sends the status as an HTTP status line over the uwsgi protocol and as a CGI
Status header over SCGI, the two forms nginx's uwsgi and scgi modules read."""


def app(environ, start_response):
    # scgi_params passes no PATH_INFO; DOCUMENT_URI is in both param files.
    path = environ.get("PATH_INFO") or environ.get("DOCUMENT_URI") or "/"
    last = path.rsplit("/", 1)[-1]
    if len(last) == 3 and last.isdigit():
        start_response(last + " Failing On Purpose", [("Content-Type", "text/plain")])
        return [b"failing\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
