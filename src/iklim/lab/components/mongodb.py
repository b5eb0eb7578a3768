"""MongoDB x3 on 127.0.1.1-3 when ``mongod`` and ``mongosh`` are on PATH (no package ships them here).

Each member runs the production arguments (replica set, keyfile) bound to its own lab address; the
replica set is initiated by the rendered ``rs-init.js`` run with ``mongosh`` against member 1,
exactly as the runbook does in production, with the root password read from a 0600 file.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

from iklim.components.base import member_names
from iklim.components.mongodb import EXPORTER_PASSWORD, KEYFILE, ROOT_PASSWORD, mongod_args, rs_init
from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, LabError, write_private
from iklim.lab.probes import wait_for
from iklim.lab.secretfile import first_use
from iklim.lab.supervisor import ProcessSpec
from iklim.status.mongowire import MongoWireError, run_command


class MongoDBLab(LabComponent):
    name = "mongodb"
    binaries = ("mongod", "mongosh")

    def members(self, ctx: LabContext) -> list[str]:
        return member_names("mongodb", ctx.env.services.mongodb.members)

    def keyfile(self, ctx: LabContext) -> Path:
        """The replica set's shared keyfile: base64-alphabet text, mode 0400 as mongod demands."""
        path = ctx.root / "secrets" / KEYFILE
        first_use(path, lambda: secrets.token_hex(48), mode=0o400)
        return path

    def processes(self, ctx: LabContext) -> list[ProcessSpec]:
        binary = shutil.which("mongod") or "mongod"
        keyfile = str(self.keyfile(ctx))
        specs = []
        for member in self.members(ctx):
            folder = ctx.member_dir(member)
            argv = (binary, *mongod_args(ctx.env, ctx.target, member, keyfile), "--dbpath", str(folder / "data"))
            specs.append(ProcessSpec(member, argv, folder))
        return specs

    def hello(self, ctx: LabContext, member: str) -> dict[str, object]:
        """``member``'s answer to ``hello`` (no authentication needed); OSError when it cannot answer."""
        try:
            mongod = ctx.target.endpoint(member, "mongod")
            return run_command(mongod.host, mongod.port, {"hello": 1}, timeout=1.0)
        except (MongoWireError, EOFError) as exc:
            raise OSError(f"{member}: {exc}") from exc

    def _answering(self, ctx: LabContext) -> bool | None:
        for member in self.members(ctx):
            self.hello(ctx, member)
        return True

    def initiate(self, ctx: LabContext, deadline: float) -> None:
        """Run the rendered rs-init.js with mongosh against member 1 (idempotent by design)."""
        first = self.members(ctx)[0]
        folder = ctx.member_dir(first)
        script = folder / "rs-init.js"
        write_private(script, rs_init(ctx.env, ctx.target), mode=0o600)
        for name in (ROOT_PASSWORD, EXPORTER_PASSWORD):
            write_private(Path(ctx.target.path(first, f"/run/secrets/{name}")), ctx.secret(name))
        argv = [
            shutil.which("mongosh") or "mongosh",
            "--quiet",
            "--host",
            "{0.host}:{0.port}".format(ctx.target.endpoint(first, "mongod")),
        ]
        argv += ["--file", str(script)]
        budget = max(5.0, deadline - time.monotonic())
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=budget, cwd=folder, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LabError(self.name, f"rs-init.js did not finish in {budget:.0f} s") from exc
        ctx.supervisor.log_dir.mkdir(parents=True, exist_ok=True)
        with ctx.supervisor.log_file("mongodb-init").open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LabError(self.name, f"rs-init.js failed (exit {done.returncode}): {last[0]}")

    def _primary(self, ctx: LabContext) -> str | None:
        """The primary every member reports, once all of them are in the replica set."""
        replica_set = ctx.env.services.mongodb.replica_set
        seen = set()
        for member in self.members(ctx):
            reply = self.hello(ctx, member)
            if reply.get("setName") != replica_set or not reply.get("primary"):
                return None
            seen.add(str(reply["primary"]))
        return seen.pop() if len(seen) == 1 else None

    def wait_ready(self, ctx: LabContext, deadline: float) -> str:
        wait_for(lambda: self._answering(ctx), deadline, "every mongod to answer hello")
        self.initiate(ctx, deadline)
        primary = wait_for(lambda: self._primary(ctx), deadline, "one primary agreed by every member")
        return f"replica set {ctx.env.services.mongodb.replica_set}, primary {primary}"

    def health(self, ctx: LabContext) -> tuple[bool, str]:
        members = self.members(ctx)
        in_set, primaries = 0, set()
        for member in members:
            try:
                reply = self.hello(ctx, member)
            except OSError:
                continue
            if reply.get("setName") == ctx.env.services.mongodb.replica_set:
                in_set += 1
                primaries.add(str(reply.get("primary", "")))
        ok = in_set == len(members) and len(primaries) == 1 and "" not in primaries
        words = f"{in_set}/{len(members)} members in the replica set"
        return ok, words + (f", primary {primaries.pop()}" if len(primaries) == 1 else ", no agreed primary")
