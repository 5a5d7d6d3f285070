#!/usr/bin/env python3
"""A minimal read-only registry on loopback that demands bearer tokens, to
test the WWW-Authenticate Bearer flow (Debian's docker-registry cannot do
token auth without an external token server).

    token-registry.py LAYOUT_DIR USER PASSWORD   -> prints the port, serves until killed

Serves /v2/<repo>/manifests/<tag|digest> and /v2/<repo>/blobs/<digest> from
an OCI layout (tags from index.json ref names). /token checks HTTP basic
credentials and returns {"token": ...}; every /v2/ request needs
"Authorization: Bearer <token>"."""
import base64
import hashlib
import http.server
import json
import os
import secrets
import sys
import threading

layout, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = secrets.token_hex(16)
index = json.load(open(os.path.join(layout, "index.json")))
tags = {m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m for m in index["manifests"]}


def blob(digest):
    alg, hexd = digest.split(":", 1)
    path = os.path.join(layout, "blobs", alg, hexd)
    return path if os.path.isfile(path) else None


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        host = self.headers.get("Host")
        if self.path.startswith("/token"):
            want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            return self.send(200, json.dumps({"token": TOKEN}).encode())
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = f'Bearer realm="http://{host}/token",service="token-registry",scope="repository:real/bookworm:pull"'
            return self.send(401, b"{}", [("WWW-Authenticate", challenge)])
        parts = self.path.split("/")
        # /v2/<repo...>/manifests/<ref> or /v2/<repo...>/blobs/<digest>
        kind, ref = parts[-2], parts[-1]
        if kind == "manifests":
            d = tags[ref]["digest"] if ref in tags else ref
            media = tags[ref]["mediaType"] if ref in tags else "application/vnd.oci.image.manifest.v1+json"
        elif kind == "blobs":
            d, media = ref, "application/octet-stream"
        else:
            return self.send(404)
        path = blob(d) if ":" in d else None
        if not path:
            return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        data = open(path, "rb").read()
        self.send(200, data, [("Content-Type", media), ("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())])


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
try:
    threading.Event().wait()
except KeyboardInterrupt:
    pass
