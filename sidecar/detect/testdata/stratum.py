#!/usr/bin/env python3
"""A Stratum exchange as miners and pools speak it, for sidewatch's tests.

Written from the protocol's public description (Stratum v1: newline-
delimited JSON-RPC over TCP, as in the Bitcoin wiki's "Stratum mining
protocol"; and the Monero variant XMRig uses: login, job, submit,
keepalived). The values (wallets, jobs, nonces) are made up.

  stratum.py server ADDR PORT_V1 PORT_XMR   serve both dialects until killed
  stratum.py client ADDR PORT_V1 PORT_XMR   one session of each, then exit
"""
import json
import socket
import socketserver
import sys
import threading


def send(f, obj):
    f.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())
    f.flush()


def recv(f):
    line = f.readline()
    if not line:
        raise EOFError
    return json.loads(line)


class V1Pool(socketserver.StreamRequestHandler):
    """A Stratum v1 pool: subscribe, authorize, difficulty, notify, submit."""

    def handle(self):
        f = self.wfile
        try:
            while True:
                msg = recv(self.rfile)
                m = msg.get("method")
                if m == "mining.subscribe":
                    send(f, {"id": msg["id"], "result": [[["mining.set_difficulty", "d1"], ["mining.notify", "n1"]], "2a0000a1", 4], "error": None})
                elif m == "mining.authorize":
                    send(f, {"id": msg["id"], "result": True, "error": None})
                    send(f, {"id": None, "method": "mining.set_difficulty", "params": [512]})
                    send(f, {"id": None, "method": "mining.notify", "params": [
                        "1f3a", "9c1e0d0b7a4f2e6d5c3b2a19087f6e5d4c3b2a1900000000", "02000000010000", "ffffffff0100f2052a", [],
                        "20000000", "1a2b3c4d", "6571a3b2", True]})
                elif m == "mining.submit":
                    send(f, {"id": msg["id"], "result": True, "error": None})
                    return
        except (EOFError, ConnectionError, ValueError):
            return


class XMRPool(socketserver.StreamRequestHandler):
    """A Monero-style pool: login answered with a job, submit, keepalived."""

    def handle(self):
        f = self.wfile
        try:
            while True:
                msg = recv(self.rfile)
                m = msg.get("method")
                if m == "login":
                    send(f, {"id": msg["id"], "jsonrpc": "2.0", "error": None, "result": {
                        "id": "sess-5e1d", "status": "OK", "extensions": ["algo", "keepalive"],
                        "job": {"blob": "1010d0e4a1b2c3d4e5f60718293a4b5c6d7e8f90", "job_id": "j-771", "target": "f3e20000",
                                "algo": "rx/0", "height": 3161234, "seed_hash": "7b6c5d4e3f2a1b0c"}}})
                elif m == "submit":
                    send(f, {"id": msg["id"], "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
                    send(f, {"jsonrpc": "2.0", "method": "job", "params": {
                        "blob": "1010d0e4a1b2c3d4e5f60718293a4b5c6d7e8f91", "job_id": "j-772", "target": "f3e20000",
                        "algo": "rx/0", "height": 3161235, "seed_hash": "7b6c5d4e3f2a1b0c"}})
                elif m == "keepalived":
                    send(f, {"id": msg["id"], "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}})
                    return
        except (EOFError, ConnectionError, ValueError):
            return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(addr, p1, p2):
    for port, handler in ((p1, V1Pool), (p2, XMRPool)):
        srv = Server((addr, port), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("listening", flush=True)
    threading.Event().wait()


def client(addr, p1, p2):
    with socket.create_connection((addr, p1), timeout=5) as s:
        f = s.makefile("rwb")
        send(f, {"id": 1, "method": "mining.subscribe", "params": ["cpuminer-opt/23.15"]})
        recv(f)
        send(f, {"id": 2, "method": "mining.authorize", "params": ["bc1qexamplewallet0sidewatch.rig7", "x"]})
        recv(f), recv(f), recv(f)
        send(f, {"id": 3, "method": "mining.submit", "params": ["bc1qexamplewallet0sidewatch.rig7", "1f3a", "00000002", "6571a3c0", "9e0b1c2d"]})
        recv(f)
    with socket.create_connection((addr, p2), timeout=5) as s:
        f = s.makefile("rwb")
        send(f, {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
            "login": "48sidewatchTestWalletAddressNotARealOne1111111111111111111111111111111111111111", "pass": "rig7",
            "agent": "XMRig/6.22.2 (Linux x86_64) libuv/1.48.0 gcc/13.2.0", "algo": ["rx/0", "cn/r", "rx/wow"]}})
        recv(f)
        send(f, {"id": 2, "jsonrpc": "2.0", "method": "submit", "params": {
            "id": "sess-5e1d", "job_id": "j-771", "nonce": "a3010000", "result": "4c0f3e2d1c0b0a090807060504030201000000000000000000000000000a1b2c"}})
        recv(f), recv(f)
        send(f, {"id": 3, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": "sess-5e1d"}})
        recv(f)


if __name__ == "__main__":
    mode, addr, p1, p2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    (serve if mode == "server" else client)(addr, p1, p2)
