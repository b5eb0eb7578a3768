"""A FAKE ``grafana-server`` for tests only (no Grafana package installs on this machine).

Like Grafana it refuses to start without ``<homepath>/conf/defaults.ini``, reads ``GF_*``
settings (address, port, data path, provisioning folder, admin password file), loads the
provisioned datasources, and answers ``/api/health``, ``/api/datasources/uid/<uid>`` (basic auth
as the admin) and ``/metrics``. Never used outside tests.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


def main(argv: list[str]) -> int:
    home = next((a.split("=", 1)[1] for a in argv if a.startswith("--homepath=")), "")
    if not (Path(home) / "conf" / "defaults.ini").exists():
        print("Grafana-server Init Failed: Could not find config defaults, make sure homepath is correct")
        return 1
    data = Path(os.environ["GF_PATHS_DATA"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "grafana.db").touch()
    password = Path(os.environ["GF_SECURITY_ADMIN_PASSWORD__FILE"]).read_text().strip()
    user = os.environ.get("GF_SECURITY_ADMIN_USER", "admin")
    sources: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(os.environ["GF_PATHS_PROVISIONING"]) / "datasources").glob("*.yml")):
        for source in yaml.safe_load(path.read_text()).get("datasources", []):
            sources[source["uid"]] = source
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: Any, kind: str = "application/json") -> None:
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/api/health":
                self.reply(200, {"database": "ok", "version": "fake"})
            elif self.path == "/metrics":
                self.reply(200, 'grafana_build_info{version="fake"} 1\n', "text/plain; version=0.0.4")
            elif self.path.startswith("/api/datasources/uid/"):
                if self.headers.get("Authorization") != expected:
                    self.reply(401, {"message": "Unauthorized"})
                    return
                uid = self.path.rsplit("/", 1)[1]
                found = sources.get(uid)
                self.reply(200 if found else 404, found or {"message": "Data source not found"})
            else:
                self.reply(404, {"message": "Not found"})

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            print(format % args, flush=True)

    address = (os.environ.get("GF_SERVER_HTTP_ADDR", "0.0.0.0"), int(os.environ.get("GF_SERVER_HTTP_PORT", "3000")))
    with ThreadingHTTPServer(address, Handler) as server:
        print(f"fake grafana-server listening on {address[0]}:{address[1]}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
