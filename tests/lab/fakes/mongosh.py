"""A FAKE ``mongosh`` for tests only: it runs the one script the lab gives it, ``rs-init.js``.

It cannot run JavaScript; it reads the replica-set config, the password files, whether the script
authenticates as root, and the exporter's user out of the rendered script, and performs the same
steps over one connection: initiate when ``hello`` has no set name, wait for a writable primary,
create root (Unauthorized or existing is fine), ``admin.auth`` (the fake mongod's ``fakeAuth``),
then update or create the exporter's user. It exits 1 with a one-line error when a step fails, as
mongosh does on an uncaught exception.
"""

from __future__ import annotations

import argparse
import itertools
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

from iklim.status.mongowire import MongoWireError, command


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mongosh")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--host", required=True)
    parser.add_argument("--file", required=True)
    args = parser.parse_args(argv)
    script = Path(args.file).read_text()
    set_name = re.search(r"_id: '([^']+)'", script)
    hosts = re.findall(r"host: '([^']+)', priority: (\d+)", script)
    root_file = re.search(r"const rootPassword = secret\('([^']+)'\)", script)
    exporter_file = re.search(r"const exporter = \{ pwd: secret\('([^']+)'\)", script)
    exporter_user = re.search(r"admin\.getUser\('(\w+)'\)", script)
    if not (set_name and hosts and root_file and exporter_file and exporter_user):
        print("MongoshInvalidInputError: not an rs-init script", file=sys.stderr)
        return 1
    address, port = args.host.rsplit(":", 1)
    ids = itertools.count(1)
    try:
        with socket.create_connection((address, int(port)), timeout=2) as sock:

            def call(doc: dict[str, Any]) -> dict[str, Any]:
                return command(sock, {**doc, "$db": "admin"}, next(ids))

            def check(reply: dict[str, Any], tolerated: tuple[int, ...] = ()) -> bool:
                if reply.get("ok") == 1:
                    return True
                if reply.get("code") in tolerated:
                    return False
                raise MongoWireError(f"MongoServerError[{reply.get('code')}]: {reply.get('errmsg')}")

            if not call({"hello": 1}).get("setName"):
                members = [{"_id": i, "host": h, "priority": int(p)} for i, (h, p) in enumerate(hosts)]
                check(call({"replSetInitiate": {"_id": set_name.group(1), "members": members}}))
                print("replica set initiated")
            for _ in range(120):
                if call({"hello": 1}).get("isWritablePrimary"):
                    break
                time.sleep(0.1)
            else:
                raise MongoWireError("Error: no primary after 120 s")
            root_password = Path(root_file.group(1)).read_text().strip()
            created = check(call({"createUser": "root", "pwd": root_password, "roles": []}), (13, 51003))
            print("root user created" if created else "root user present")
            if "admin.auth('root', rootPassword);" in script:
                check(call({"fakeAuth": "root", "pwd": root_password}))
            user = exporter_user.group(1)
            pwd = Path(exporter_file.group(1)).read_text().strip()
            if call({"usersInfo": user}).get("users"):
                check(call({"updateUser": user, "pwd": pwd}))
                print(f"{user} user updated")
            else:
                check(call({"createUser": user, "pwd": pwd, "roles": []}))
                print(f"{user} user created")
    except (OSError, EOFError) as exc:
        print(f"MongoNetworkError: {exc}", file=sys.stderr)
        return 1
    except MongoWireError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
