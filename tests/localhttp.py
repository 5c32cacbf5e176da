"""A small HTTP server on 127.0.0.1 for download tests: serves ``Handler.files``, honours Range
requests (or not), and can hang up after N bytes to simulate a broken connection.

A pytest plugin (``pytest_plugins = ["localhttp"]`` in conftest.py) providing the ``server`` fixture;
tests put bodies in ``localhttp.Handler.files``."""
import http.server
import threading

import pytest


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_after: int | None = None  # send only this many bytes of the body, then hang up
    honour_range = True
    log_message = lambda *a: None  # noqa: E731  (quiet)

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and self.honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if type(self).cut_after is not None:
            payload = payload[:type(self).cut_after]
            type(self).cut_after = None  # only the first attempt is cut
        self.wfile.write(payload)


@pytest.fixture()
def server():
    """Base URL of a fresh local server; put bodies in ``Handler.files["/name"]``."""
    Handler.files, Handler.cut_after, Handler.honour_range = {}, None, True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()  # returns within one poll interval (the default 0.5 s cost every test half a second)
    httpd.server_close()
