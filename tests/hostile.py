#!/usr/bin/env python3
"""A hostile "collector" for the shipper's robustness tests (standard library only).

    hostile.py MODE --port-file F --log F [--cert C --key K] [--target URL]

Listens on 127.0.0.1 at a free port (written to --port-file), reads each request,
logs one JSON line per request to --log ({"mode", "path", "bytes"}), then misbehaves:

  huge           200 OK announcing a 4 GiB body and streaming it without end
  trickle-body   200 OK headers, then the body one byte a second
  trickle-head   the status line itself one byte a second
  redirect       302 Found to --target (a server that must never be asked)
  redirect307    307 Temporary Redirect to --target
  garbage        bytes that are not HTTP, then close
  silent         reads the request, never answers, keeps the connection open
With --cert/--key it speaks TLS first (for a certificate with the wrong name).
"""
import argparse
import json
import os
import socket
import ssl
import threading
import time

LOCK = threading.Lock()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, 0
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    path = head.split(b"\r\n")[0].split(b" ")[1].decode("latin-1")
    return path, len(rest)


def serve(conn, args, log):
    try:
        path, n = read_request(conn)
        if path is None:
            return
        with LOCK:
            log.write(json.dumps({"mode": args.mode, "path": path, "bytes": n}) + "\n")
            log.flush()
        m = args.mode
        if m == "huge":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n"
                         b"Content-Type: application/json\r\n\r\n")
            block = b"x" * 65536
            deadline = time.time() + 120
            while time.time() < deadline:
                conn.sendall(block)
        elif m == "trickle-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(120):
                conn.sendall(b"x")
                time.sleep(1)
        elif m == "trickle-head":
            for ch in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                conn.sendall(bytes([ch]))
                time.sleep(1)
        elif m in ("redirect", "redirect307"):
            code = b"302 Found" if m == "redirect" else b"307 Temporary Redirect"
            conn.sendall(b"HTTP/1.1 " + code + b"\r\nLocation: " + args.target.encode() +
                         b"\r\nContent-Length: 0\r\n\r\n")
            time.sleep(0.5)
        elif m == "garbage":
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage \x01\x02\x03\r\n\r\n")
        elif m == "silent":
            time.sleep(120)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--target", default="http://127.0.0.1:9/")
    args = ap.parse_args()
    log = open(args.log, "a", buffering=1)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.port_file)
    while True:
        conn, _ = srv.accept()
        if ctx is not None:
            try:
                conn = ctx.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                continue
        threading.Thread(target=serve, args=(conn, args, log), daemon=True).start()


if __name__ == "__main__":
    main()
