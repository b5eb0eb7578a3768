"""A FAKE ``mongosh`` for tests only: it runs the one script the lab gives it, ``rs-init.js``.

It cannot run JavaScript; it reads the replica-set config and each ``ensureUser`` call (user,
password file, tolerated error codes) out of the rendered script and performs the same steps over
the wire: initiate when ``hello`` has no set name, wait for a writable primary, create each user.
It exits 1 with a one-line error when a step fails, as mongosh does on an uncaught exception.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from iklim.status.mongowire import run_command


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
    calls = re.findall(r"^ensureUser\('(\w+)', (rootPassword|secret\('[^']+'\)), .*\[([\d, ]+)\]\);$", script, re.M)
    if not (set_name and hosts and root_file and calls):
        print("MongoshInvalidInputError: not an rs-init script", file=sys.stderr)
        return 1
    address, port = args.host.rsplit(":", 1)

    def call(doc: dict[str, object]) -> dict[str, object]:
        return run_command(address, int(port), doc, timeout=2)

    try:
        if not call({"hello": 1}).get("setName"):
            members = [{"_id": i, "host": h, "priority": int(p)} for i, (h, p) in enumerate(hosts)]
            reply = call({"replSetInitiate": {"_id": set_name.group(1), "members": members}})
            if reply.get("ok") != 1:
                print(f"MongoServerError: {reply.get('errmsg')}", file=sys.stderr)
                return 1
            print("replica set initiated")
        for _ in range(120):
            if call({"hello": 1}).get("isWritablePrimary"):
                break
            time.sleep(0.1)
        else:
            print("Error: no primary", file=sys.stderr)
            return 1
        for user, source, tolerated in calls:
            path = root_file.group(1) if source == "rootPassword" else source[len("secret('") : -len("')")]
            pwd = Path(path).read_text().strip()
            reply = call({"createUser": user, "pwd": pwd, "roles": []})
            if reply.get("ok") == 1:
                print(f"{user} user created")
            elif reply.get("code") in {int(code) for code in tolerated.split(",")}:
                print(f"{user} user present")
            else:
                print(f"MongoServerError: {reply.get('errmsg')}", file=sys.stderr)
                return 1
    except OSError as exc:
        print(f"MongoNetworkError: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
