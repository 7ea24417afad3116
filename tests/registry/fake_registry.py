#!/usr/bin/env python3
"""A scripted registry for the resolver's unit tests (tests/unit/
registry_resolve_test.cpp): each repository name asks for one behaviour a
real registry may show. It prints its port on stdout, then serves until
killed.

  nodigest/x    HEAD and GET: 200 without Docker-Content-Digest (GET has the body)
  bearer/x      401 Bearer (realm /token, service fake, scope); /token wants
                basic alice:pw when any Authorization comes, answers only
                {"access_token": ...}; the manifest wants that token
  redirect/x    307 to /v2/nodigest/x/manifests/<tag>
  badtoken/x    401 Bearer; /token answers {}
  missing/x     404 (GET: an OCI error body)
  slow/x        sleeps 5 s
  huge/x        no digest header; GET sends 5 MiB
  index/x       200 with a digest header and an OCI index Content-Type
"""
import base64
import hashlib
import http.server
import json
import socketserver
import sys
import time

BODY = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
TOKEN = "fake-token-123"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.handle_request()

    def do_GET(self):
        self.handle_request()

    def handle_request(self):
        port = self.server.server_address[1]
        path = self.path.split("?")[0]
        auth = self.headers.get("Authorization", "")
        if path == "/token":
            if "badtoken" in self.path:
                return self.reply(200, [("Content-Type", "application/json")], b"{}")
            if auth and auth != "Basic " + base64.b64encode(b"alice:pw").decode():
                return self.reply(401, [("Content-Type", "application/json")], b"{}")
            body = json.dumps({"access_token": TOKEN}).encode()
            return self.reply(200, [("Content-Type", "application/json")], body)
        parts = path.split("/")  # /v2/<repo>/x/manifests/<tag>
        if len(parts) < 6 or parts[1] != "v2":
            return self.reply(404)
        repo = parts[2]
        manifest = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")]
        if repo == "nodigest":
            return self.reply(200, manifest, BODY)
        if repo == "index":
            return self.reply(200, [("Content-Type", "application/vnd.oci.image.index.v1+json"),
                                    ("Docker-Content-Digest", DIGEST)], BODY)
        if repo in ("bearer", "badtoken"):
            if auth != "Bearer " + TOKEN:
                challenge = ('Bearer realm="http://127.0.0.1:%d/token?%s",service="fake",'
                             'scope="repository:%s/x:pull"' % (port, repo, repo))
                return self.reply(401, [("WWW-Authenticate", challenge)])
            return self.reply(200, manifest + [("Docker-Content-Digest", DIGEST)], BODY)
        if repo == "redirect":
            return self.reply(307, [("Location", "/v2/nodigest/x/manifests/" + parts[5])])
        if repo == "missing":
            body = b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}'
            return self.reply(404, [("Content-Type", "application/json")], body)
        if repo == "slow":
            time.sleep(5)
            return self.reply(200, manifest + [("Docker-Content-Digest", DIGEST)], BODY)
        if repo == "huge":
            return self.reply(200, manifest, b" " * (5 << 20))
        return self.reply(404)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up (an oversized answer refused) is expected


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
