#!/usr/bin/env python3
"""Stand-ins for the EC2 instance metadata service (169.254.169.254) and
the ECS task credential endpoint (169.254.170.2), for sidewatch's tests.
Every value is made up.

  metadata.py OWN_CREDENTIALS_PATH   serve both on port 80 until killed
"""
import http.server
import json
import sys
import threading

OWN = sys.argv[1]
CREDS = {"AccessKeyId": "ASIAEXAMPLEFAKE00001", "SecretAccessKey": "fake/secret/for/tests/only/not/a/key000",
         "Token": "FAKE-SESSION-TOKEN", "Expiration": "2030-01-01T00:00:00Z", "RoleArn": "arn:aws:iam::111122223333:role/app"}


class IMDS(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path == "/latest/api/token":
            self.reply(200, "FAKE-IMDSV2-TOKEN==")
        else:
            self.reply(404, "")

    def do_GET(self):
        p = self.path
        if p == "/latest/meta-data/iam/security-credentials/":
            self.reply(200, "app-role")
        elif p.startswith("/latest/meta-data/iam/security-credentials/"):
            self.reply(200, json.dumps(CREDS), "application/json")
        elif p.startswith("/latest/meta-data"):
            self.reply(200, "ami-id\ninstance-id\niam/\n")
        else:
            self.reply(404, "")

    def log_message(self, *a):
        pass


class Creds(IMDS):
    def do_GET(self):
        if self.path == OWN:
            self.reply(200, json.dumps(CREDS), "application/json")
        elif self.path.startswith("/v4/"):
            self.reply(200, json.dumps({"Cluster": "test", "TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/test/0123"}), "application/json")
        else:
            self.reply(404, "")


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True


for addr, handler in (("169.254.169.254", IMDS), ("169.254.170.2", Creds)):
    threading.Thread(target=Server((addr, 80), handler).serve_forever, daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
