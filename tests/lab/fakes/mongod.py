"""A FAKE ``mongod`` for tests only (no MongoDB package installs on this machine).

It checks its arguments the way mongod does (keyfile mode and alphabet, dbpath present), speaks
OP_MSG on ``--bind_ip``/``--port`` and keeps a tiny replica-set state in ``--dbpath``: ``hello``,
``replSetInitiate`` (propagated to the other members), ``createUser``, ``usersInfo``,
``updateUser`` and ``ping``. Like mongod, user commands need an authenticated connection once a
user exists (the localhost exception closes); authentication is the fake's own ``fakeAuth``
command, not SCRAM. Member 0 of the initiated config is the primary at once. Tests only.
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import stat
import string
import struct
import sys
from pathlib import Path
from typing import Any

from iklim.status.mongowire import OP_MSG, decode_document, encode_document, run_command

BASE64 = set(string.ascii_letters + string.digits + "+/=")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mongod")
    parser.add_argument("--replSet", required=True)
    parser.add_argument("--bind_ip")
    parser.add_argument("--bind_ip_all", action="store_true")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--keyFile", required=True)
    parser.add_argument("--dbpath", required=True)
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    mode = stat.S_IMODE(os.stat(args.keyFile).st_mode)
    if mode & 0o077:
        sys.exit(f"permissions on {args.keyFile} are too open")
    key = Path(args.keyFile).read_text().strip()
    if not 6 <= len(key) <= 1024 or set(key) - BASE64:
        sys.exit("invalid char in key file or wrong size")
    if not Path(args.dbpath).is_dir():
        sys.exit(f"Data directory {args.dbpath} not found")


class State:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.me = f"{args.bind_ip}:{args.port}"
        self.file = Path(args.dbpath) / "fake-mongod.json"

    def load(self) -> dict[str, Any]:
        return json.loads(self.file.read_text()) if self.file.exists() else {"config": None, "users": {}}

    def save(self, data: dict[str, Any]) -> None:
        self.file.write_text(json.dumps(data))

    def answer(self, cmd: dict[str, Any], session: dict[str, bool]) -> dict[str, Any]:
        name = next(iter(cmd))
        data = self.load()
        if name == "fakeAuth":
            if data["users"].get(cmd["fakeAuth"]) != cmd["pwd"]:
                return {"ok": 0, "code": 18, "errmsg": "Authentication failed."}
            session["authenticated"] = True
            return {"ok": 1}
        user_command = name in ("createUser", "usersInfo", "updateUser")
        if user_command and data["users"] and not session.get("authenticated"):
            return {"ok": 0, "code": 13, "errmsg": f"command {name} requires authentication"}
        config = data["config"]
        primary = config["members"][0]["host"] if config else None
        if name in ("hello", "isMaster", "ismaster", "ping"):
            if not config or name == "ping":
                return {"ok": 1, "isWritablePrimary": False}
            hosts = [m["host"] for m in config["members"]]
            return {
                "ok": 1,
                "setName": config["_id"],
                "hosts": hosts,
                "primary": primary,
                "me": self.me,
                "isWritablePrimary": primary == self.me,
            }
        if name in ("replSetInitiate", "fakeReplSetConfig"):
            new = cmd[name]
            if config:
                return {"ok": 0, "code": 23, "errmsg": "already initialized"}
            if new["_id"] != self.args.replSet:
                return {"ok": 0, "code": 93, "errmsg": f"set name {new['_id']} != --replSet {self.args.replSet}"}
            hosts = [m["host"] for m in new["members"]]
            if self.me not in hosts:
                return {"ok": 0, "code": 93, "errmsg": f"{self.me} is not in the config"}
            data["config"] = new
            self.save(data)
            if name == "replSetInitiate":
                for host in hosts:
                    if host != self.me:
                        address, port = host.rsplit(":", 1)
                        run_command(address, int(port), {"fakeReplSetConfig": new}, timeout=2)
            return {"ok": 1}
        if user_command and primary != self.me:
            return {"ok": 0, "code": 10107, "errmsg": "not primary"}
        if name == "usersInfo":
            found = cmd["usersInfo"] in data["users"]
            return {"ok": 1, "users": [{"user": cmd["usersInfo"], "db": "admin"}] if found else []}
        if name in ("createUser", "updateUser"):
            exists = cmd[name] in data["users"]
            if name == "createUser" and exists:
                return {"ok": 0, "code": 51003, "errmsg": "User already exists"}
            if name == "updateUser" and not exists:
                return {"ok": 0, "code": 11, "errmsg": "User not found"}
            data["users"][cmd[name]] = cmd["pwd"]
            self.save(data)
            return {"ok": 1}
        return {"ok": 0, "code": 59, "errmsg": f"no such command: '{name}'"}


def serve(state: State) -> None:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            session: dict[str, bool] = {}
            while True:
                header = self.request.recv(16, 0x100)  # MSG_WAITALL
                if len(header) < 16:
                    return
                length, request_id, _, opcode = struct.unpack("<iiii", header)
                body = self.request.recv(length - 16, 0x100)
                if opcode != OP_MSG:
                    return
                cmd, _ = decode_document(body, 5)
                cmd.pop("$db", None)
                payload = struct.pack("<I", 0) + b"\x00" + encode_document(state.answer(cmd, session))
                self.request.sendall(struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_MSG) + payload)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer((state.args.bind_ip or "0.0.0.0", state.args.port), Handler) as server:
        print(f"fake mongod {state.me} waiting for connections", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    check(arguments)
    serve(State(arguments))
