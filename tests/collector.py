#!/usr/bin/env python3
"""A scriptable telemetry collector for the shipper's tests (standard library only).

    collector.py --port-file F --log F [--script F] [--default JSON] [--cert C --key K]

Listens on 127.0.0.1 at a free port (written to --port-file once it listens), speaks
HTTP/1.1 with keep-alive, serves many connections at once (ThreadingHTTPServer), and
over TLS when --cert/--key are given.

Every request (but /_control/*) is appended to --log as one JSON line:
    {"n": 1, "method": "POST", "path": "/v1", "query": "t=x", "headers": {...},
     "body": "<the raw body>", "status": 200, "reset": false, "conn": 3}
It is written when the request has been read, before the answer (so a test sees a
request that is still being answered).

Answers come from a queue of responses, then from the default (200). A response is a
JSON object: {"status": 503, "delay": 0.5, "retry_after": "120", "reset": false,
"body": "...", "headers": {"X": "y"}, "repeat": 3}; "reset": true reads the request
and then resets the connection (RST) without answering; "repeat" queues it N times.
The queue is given with --script FILE (a JSON list, or JSON lines) or at run time:
    POST /_control/script    body: a JSON list of responses, appended to the queue
    POST /_control/default   body: one response, the new default
    POST /_control/reset     empties the queue, default back to 200
    GET  /_control/count     number of requests logged
"""
import argparse
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOCK = threading.Lock()
STATE = {"queue": [], "default": {"status": 200}, "n": 0, "log": None, "conns": 0}


def expand(responses):
    out = []
    for r in responses:
        for _ in range(int(r.get("repeat", 1))):
            out.append(r)
    return out


def next_response():
    with LOCK:
        if STATE["queue"]:
            return STATE["queue"].pop(0)
        return STATE["default"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-collector/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with LOCK:
            STATE["conns"] += 1
            self.conn_id = STATE["conns"]

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _control(self, body):
        path = urlsplit(self.path).path
        if path == "/_control/script":
            with LOCK:
                STATE["queue"].extend(expand(json.loads(body or b"[]")))
        elif path == "/_control/default":
            with LOCK:
                STATE["default"] = json.loads(body)
        elif path == "/_control/reset":
            with LOCK:
                STATE["queue"] = []
                STATE["default"] = {"status": 200}
        elif path == "/_control/count":
            with LOCK:
                n = STATE["n"]
            self._send(200, (str(n) + "\n").encode())
            return
        else:
            self._send(404)
            return
        self._send(204)

    def _handle(self):
        body = self._read_body()
        if self.path.startswith("/_control/"):
            self._control(body)
            return
        resp = next_response()
        parts = urlsplit(self.path)
        with LOCK:
            STATE["n"] += 1
            entry = {
                "n": STATE["n"],
                "method": self.command,
                "path": parts.path,
                "query": parts.query,
                "headers": {k: v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "status": None if resp.get("reset") else int(resp.get("status", 200)),
                "reset": bool(resp.get("reset")),
                "conn": self.conn_id,
                "t": time.time(),
            }
            if STATE["log"] is not None:
                STATE["log"].write(json.dumps(entry) + "\n")
                STATE["log"].flush()
        delay = float(resp.get("delay", 0))
        if delay > 0:
            time.sleep(delay)
        if resp.get("reset"):
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_connection = True
            try:
                self.connection.close()
            except OSError:
                pass
            return
        headers = dict(resp.get("headers", {}))
        if "retry_after" in resp:
            headers["Retry-After"] = str(resp["retry_after"])
        self._send(int(resp.get("status", 200)), resp.get("body", "").encode(), headers)

    def do_POST(self):
        self._handle()

    def do_GET(self):
        self._handle()

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, OSError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):  # quiet on resets
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script")
    ap.add_argument("--default", help="JSON response used when the queue is empty")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()

    if a.script:
        with open(a.script) as f:
            text = f.read().strip()
        if text.startswith("["):
            items = json.loads(text)
        else:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        STATE["queue"] = expand(items)
    if a.default:
        STATE["default"] = json.loads(a.default)
    STATE["log"] = open(a.log, "a", buffering=1)

    srv = Server(("127.0.0.1", 0), Handler)
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    port = srv.server_address[1]
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
