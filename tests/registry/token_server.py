#!/usr/bin/env python3
"""A minimal Docker registry token server for the registry tests: the
anonymous bearer-token flow of the distribution spec's token authentication.

    token_server.py PORT KEY CERT ISSUER LOG

GET /token?service=S&scope=repository:NAME:ACTIONS answers
{"token": JWT, "access_token": JWT, "expires_in": 300}: a JWT signed RS256
with KEY (by `openssl dgst`), its certificate CERT in the x5c header (the
registry trusts it through `rootcertbundle`), granting the asked actions to
anyone. Each request is appended to LOG as one JSON line (path, service,
scope, whether an Authorization header came), never the header's value.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

PORT, KEY, CERT, ISSUER, LOG = sys.argv[1:6]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der():
    return subprocess.run(["openssl", "x509", "-in", CERT, "-outform", "DER"],
                          stdout=subprocess.PIPE, check=True).stdout


DER = cert_der()


def token(service, scopes):
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                           "actions": parts[-1].split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(DER).decode()]}
    claims = {"iss": ISSUER, "sub": "", "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": b64url(os.urandom(12)), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY], input=signing_input,
                         stdout=subprocess.PIPE, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": url.path, "service": q.get("service", [""])[0],
                                "scope": q.get("scope", []),
                                "authorization": "Authorization" in self.headers}) + "\n")
        if url.path != "/token":
            self.send_error(404)
            return
        t = token(q.get("service", [""])[0], q.get("scope", []))
        body = json.dumps({"token": t, "access_token": t, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
