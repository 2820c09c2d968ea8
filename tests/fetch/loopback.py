"""A real HTTP server on 127.0.0.1 for the fetch tests: serves files with Range support, can cut a transfer
short after N bytes (a given number of times), honours If-Range, and answers 404 for anything it does not
hold."""

from __future__ import annotations

import http.server
import re
import threading
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> body
    cut_after: int | None = None  # close the connection after this many body bytes ...
    cuts_left: int = 0  # ... this many times
    etag: str = '"v1"'  # the validator of every file; an If-Range with another one gets the whole file
    requests: list[dict] = field(default_factory=list)  # path, method, headers of every request seen
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: Behaviour):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            with state.lock:
                state.requests.append({"path": self.path, "headers": dict(self.headers)})
                cut = state.cut_after if state.cuts_left > 0 else None
                if cut is not None:
                    state.cuts_left -= 1
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start, status = 0, 200
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if match and self.headers.get("If-Range", state.etag) != state.etag:
                match = None  # the file changed since the client's first part: send it whole
            if match:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("ETag", state.etag)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            payload = body[start:] if cut is None else body[start:start + cut]
            self.wfile.write(payload)
            if cut is not None:
                self.close_connection = True
                self.wfile.flush()

    return Handler


class LoopbackServer:
    """``with LoopbackServer() as srv: srv.state.files['/a.zip'] = data; srv.url('/a.zip')``."""

    def __init__(self):
        self.state = Behaviour()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
