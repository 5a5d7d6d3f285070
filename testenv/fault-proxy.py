#!/usr/bin/env python3
"""fault-proxy.py - a registry that misbehaves, on loopback only.

A reverse proxy in front of a plain-HTTP registry (testenv/registry.sh
without --tls) that injects one kind of fault into blob downloads, so the
client's retries, resumption and error messages can be checked:

  fault-proxy.py --upstream 127.0.0.1:5000 --port-file F --log L --fault MODE

MODE (blob GETs only; manifests and the rest pass through):
  none                   forward everything
  reset:OFFSET           first blob response: OFFSET bytes, then a TCP reset
  stall:OFFSET:SECS      first blob response: OFFSET bytes, then silence for SECS
  status:CODE:COUNT      first COUNT blob requests answered with HTTP CODE
  retry-after:COUNT:SECS first COUNT blob requests: 429 with Retry-After: SECS
  always:CODE            every blob request answered with HTTP CODE
  corrupt:OFFSET         every blob response has the byte at OFFSET flipped
  huge-manifest          manifest GETs answered with a 200 MB body of spaces
  redirect               blob requests: 307 to a second listener on 127.0.0.2
                         (another host), which forwards them and logs whether
                         an Authorization header arrived there

--basic USER:PASS makes the main listener demand HTTP basic auth (so the
client has credentials that a redirect must not carry to the other host).
Range requests are forwarded as they come. Events go to --log, one a line.
The proxy stops by itself after --ttl seconds.
"""
import argparse
import base64
import http.client
import http.server
import socket
import socketserver
import struct
import sys
import threading
import time

args = None
lock = threading.Lock()
counters = {"blob": 0}


def log(msg):
    with lock, open(args.log, "a") as f:
        f.write(msg + "\n")


def is_blob(path):
    return "/blobs/sha256:" in path and "/uploads/" not in path


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    redirect_target = False

    def log_message(self, fmt, *a):  # quiet
        pass

    def send_plain(self, code, extra=None, body=b""):
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.handle_any("HEAD")

    def do_GET(self):
        self.handle_any("GET")

    def handle_any(self, method):
        if self.redirect_target:
            log(f"other-host {method} {self.path} authorization={'yes' if self.headers.get('Authorization') else 'no'}")
        elif args.basic:
            want = "Basic " + base64.b64encode(args.basic.encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.send_plain(401, {"WWW-Authenticate": 'Basic realm="fault-proxy"'})
        blob = method == "GET" and is_blob(self.path) and not self.redirect_target
        n = 0
        if blob:
            with lock:
                counters["blob"] += 1
                n = counters["blob"]
        mode, *p = args.fault.split(":")
        if mode == "huge-manifest" and method == "GET" and "/manifests/" in self.path:
            log(f"huge manifest {self.path}")
            size = 200 << 20
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            try:
                chunk = b" " * (1 << 20)
                for _ in range(size >> 20):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        if blob and mode == "redirect":
            log(f"redirect {self.path}")
            return self.send_plain(307, {"Location": f"http://127.0.0.2:{args.other_port}{self.path}"})
        if blob and mode == "status" and n <= int(p[1]):
            log(f"status {p[0]} #{n}")
            return self.send_plain(int(p[0]))
        if blob and mode == "always":
            log(f"status {p[0]} #{n}")
            return self.send_plain(int(p[0]))
        if blob and mode == "retry-after" and n <= int(p[0]):
            log(f"429 retry-after {p[1]} #{n}")
            return self.send_plain(429, {"Retry-After": p[1]})
        conn = http.client.HTTPConnection(args.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range", "authorization")}
        if args.basic:
            headers.pop("Authorization", None)
        conn.request(method, self.path, headers=headers)
        up = conn.getresponse()
        body_len = up.getheader("Content-Length")
        self.send_response(up.status)
        for k, v in up.getheaders():
            if k.lower() in ("content-length", "content-type", "content-range", "docker-content-digest",
                             "location", "www-authenticate", "accept-ranges", "etag"):
                self.send_header(k, v)
        self.end_headers()
        if method == "HEAD":
            return
        if blob and up.status == 200 and body_len is not None:
            if mode == "reset" and n == 1:
                return self.cut(up, int(p[0]), reset=True)
            if mode == "stall" and n == 1:
                return self.cut(up, int(p[0]), stall=float(p[1]))
            if mode == "corrupt":
                data = up.read()
                at = int(p[0])
                if at < len(data):
                    data = data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1:]
                    log(f"corrupted byte {at} of {self.path}")
                self.wfile.write(data)
                return
        while True:
            chunk = up.read(1 << 16)
            if not chunk:
                break
            self.wfile.write(chunk)

    def cut(self, up, offset, reset=False, stall=0.0):
        sent = 0
        while sent < offset:
            chunk = up.read(min(1 << 16, offset - sent))
            if not chunk:
                break
            self.wfile.write(chunk)
            sent += len(chunk)
        self.wfile.flush()
        if stall:
            log(f"stall after {sent} bytes of {self.path}")
            time.sleep(stall)
        else:
            log(f"reset after {sent} bytes of {self.path}")
        # SO_LINGER 0: the close sends a TCP reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class OtherHost(Proxy):
    redirect_target = True


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--fault", default="none")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--basic")
    ap.add_argument("--ttl", type=float, default=600)
    args = ap.parse_args()
    other = Server(("127.0.0.2", 0), OtherHost)
    args.other_port = other.server_address[1]
    main_srv = Server(("127.0.0.1", 0), Proxy)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    threading.Thread(target=main_srv.serve_forever, daemon=True).start()
    with open(args.port_file, "w") as f:
        f.write(f"{main_srv.server_address[1]}\n")
    time.sleep(args.ttl)


if __name__ == "__main__":
    sys.exit(main())
