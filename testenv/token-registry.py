#!/usr/bin/env python3
"""A minimal registry on loopback that demands bearer tokens, to test the
WWW-Authenticate Bearer flow (Debian's docker-registry cannot do token auth
without an external token server) and, with --writable, the OCI 1.1
referrers API (Debian's docker-registry 2.8 predates it).

    token-registry.py LAYOUT_DIR USER PASSWORD [--writable LOG]
        -> prints the port, serves until killed

Serves /v2/<repo>/manifests/<tag|digest> and /v2/<repo>/blobs/<digest> from
an OCI layout (tags from index.json ref names). /token checks HTTP basic
credentials and returns {"token": ...}; every /v2/ request needs
"Authorization: Bearer <token>". --writable (on a layout copy) adds blob
uploads (POST + PUT ?digest=), manifest PUTs (answering OCI-Subject for a
manifest with a subject, as the distribution spec says a registry with the
referrers API does) and GET /v2/<repo>/referrers/<digest>[?artifactType=],
and logs each request line to LOG for the tests to check."""
import base64
import hashlib
import http.server
import json
import os
import secrets
import sys
import threading

import urllib.parse

layout, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
WRITABLE = len(sys.argv) > 5 and sys.argv[4] == "--writable"
LOG = sys.argv[5] if WRITABLE else None
uploads = {}
referrers = {}  # subject digest -> [descriptor]
lock = threading.Lock()
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

    def authorized(self):
        if LOG:
            with lock, open(LOG, "a") as f:
                f.write(f"{self.command} {self.path}\n")
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        host = self.headers.get("Host")
        challenge = f'Bearer realm="http://{host}/token",service="token-registry",scope="repository:real/bookworm:pull,push"'
        self.send(401, b"{}", [("WWW-Authenticate", challenge)])
        return False

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_HEAD(self):
        if not self.authorized():
            return
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        path = blob(parts[-1]) if parts[-2] == "blobs" and ":" in parts[-1] else None
        if not path:
            return self.send(404)
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.end_headers()

    def do_POST(self):
        if not self.authorized():
            return
        if not WRITABLE or not self.path.rstrip("/").endswith("/blobs/uploads"):
            return self.send(405)
        self.body()
        uid = secrets.token_hex(8)
        uploads[uid] = b""
        loc = urllib.parse.urlsplit(self.path).path.rstrip("/") + "/" + uid
        self.send(202, b"", [("Location", loc)])

    def do_PUT(self):
        if not self.authorized():
            return
        if not WRITABLE:
            return self.send(405)
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        data = self.body()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if parts[-2] == "uploads":
            want = urllib.parse.parse_qs(url.query).get("digest", [""])[0]
            if want != digest:
                return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            self.store(digest, uploads.pop(parts[-1], b"") + data)
            return self.send(201, b"", [("Docker-Content-Digest", digest)])
        if parts[-2] != "manifests":
            return self.send(405)
        ref = parts[-1]
        if ":" in ref and ref != digest:
            return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
        self.store(digest, data)
        media = self.headers.get("Content-Type", "")
        headers = [("Docker-Content-Digest", digest)]
        if ":" not in ref:
            tags[ref] = {"digest": digest, "mediaType": media}
        doc = json.loads(data)
        subject = (doc.get("subject") or {}).get("digest")
        if subject:
            d = {"mediaType": media, "digest": digest, "size": len(data),
                 "artifactType": doc.get("artifactType") or doc.get("config", {}).get("mediaType")}
            if doc.get("annotations"):
                d["annotations"] = doc["annotations"]
            with lock:
                referrers.setdefault(subject, []).append(d)
            headers.append(("OCI-Subject", subject))
        self.send(201, b"", headers)

    def store(self, digest, data):
        alg, hexd = digest.split(":", 1)
        os.makedirs(os.path.join(layout, "blobs", alg), exist_ok=True)
        with open(os.path.join(layout, "blobs", alg, hexd), "wb") as f:
            f.write(data)

    def do_GET(self):
        if self.path.startswith("/token"):
            want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != want:
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            return self.send(200, json.dumps({"token": TOKEN}).encode())
        if not self.authorized():
            return
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        if WRITABLE and parts[-2] == "referrers":
            want = urllib.parse.parse_qs(url.query).get("artifactType", [None])[0]
            found = [d for d in referrers.get(parts[-1], []) if want is None or d["artifactType"] == want]
            idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": found}
            headers = [("Content-Type", "application/vnd.oci.image.index.v1+json")]
            if want:
                headers.append(("OCI-Filters-Applied", "artifactType"))
            return self.send(200, json.dumps(idx).encode(), headers)
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
