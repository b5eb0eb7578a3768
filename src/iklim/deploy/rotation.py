"""Secret rotation inside the engines: what a new Docker secret alone does not change.

A rolling update onto a new secret version (:mod:`iklim.deploy.secretversions`) gives every
restarted container the new file at ``/run/secrets/<base>``. That is not enough where the engine
keeps the credential elsewhere; :class:`SecretRotationHooks` does the rest, around the runner's
roll of each cluster (``before_cluster``: before its first member restarts; ``after_cluster``:
after its last member and its companions restarted and the cluster is healthy; ``after_deploy``:
after every service of the deploy converged).

``postgres_replication_password`` (cluster ``patroni``)
    The replication role lives inside the database (Patroni creates it only at bootstrap) and is
    replicated to every replica. Before the roll: ``ALTER ROLE replicator PASSWORD '<SCRAM
    verifier>'`` on the primary as the superuser, the verifier computed client-side as psql's
    ``\\password`` does (libpq ``PQencryptPasswordConn``; so the statement carries no plaintext,
    and ``log_statement`` is set to ``none`` for the transaction). PostgreSQL checks a password at
    connect only, so streaming replicas stay connected. The roll then gives each Patroni its new
    ``PATRONI_REPLICATION_PASSWORD``; Patroni writes it to its ``pgpass`` file (``/tmp/pgpass``
    in the container, not the data directory) and points ``primary_conninfo`` at it
    (``passfile=``), so a restarted replica connects with the new value. After the roll: every
    replica must stream from the primary again (``pg_stat_replication``). Sources:
    postgresql.org/docs/16/sql-alterrole.html, libpq-misc.html (PQencryptPasswordConn),
    patroni.readthedocs.io/en/latest/yaml_configuration.html (``postgresql.pgpass``).

``redis_password`` (cluster ``redis``)
    Redis keeps the password in memory and, after a ``CONFIG REWRITE`` (which Sentinel sends on
    every reconfiguration), in the data directory's ``/data/redis.conf`` that the member copied
    there on first boot: its ``requirepass``, ``masterauth`` and ``user default ... #<sha256>``
    lines come after the ``include`` of the secret-derived file and win at the next start. Sentinel
    keeps ``sentinel auth-pass`` in ``/data/sentinel.conf`` (appended from the secret on first
    boot only, rewritten by Sentinel itself). Before the roll: ``ACL SETUSER default on >new`` on
    every member (old and new both accepted), then in one ``MULTI``: ``CONFIG SET requirepass
    new`` (which resets the default user to it) with ``ACL SETUSER default on >old`` and ``CONFIG
    SET masterauth new``, then ``CONFIG REWRITE`` (the file says requirepass/masterauth new and
    keeps both passwords on the ``user default`` line, so a restarted member accepts both until
    the end; without the requirepass the old value stayed in the file in clear, found on the Swarm
    lab), and ``SENTINEL SET <master> auth-pass new`` on every Sentinel (persisted by Sentinel's
    config rewrite). After the cluster's roll: the new value is accepted by every member. After the
    whole deploy (the exporter and other clients of the secret rolled too): ``ACL SETUSER default
    resetpass >new``, ``CONFIG SET requirepass``/``masterauth`` new and ``CONFIG REWRITE`` on
    every member (the old value fails, in memory and on disk), and the Sentinels' auth-pass again
    (a Sentinel restarted meanwhile with an empty data directory).
    Sources: redis.io/docs/latest/commands/acl-setuser/, config-rewrite/,
    redis.io/docs/latest/operate/oss_and_stack/management/sentinel/ (SENTINEL SET, auth-pass).

``rabbitmq_admin_password`` (cluster ``rabbitmq``)
    ``RABBITMQ_DEFAULT_PASS`` is read only when a node's database is empty (first boot); the user
    lives in the cluster's internal database, shared by every node. Before the roll: the user's
    password is changed once through the management HTTP API of a running node (``PUT
    /api/users/<admin>`` with ``password`` and the user's current ``tags``): the same change as
    ``rabbitmqctl change_password <user> <password>`` (rabbitmq.com/docs/access-control), whose
    3.10 CLI takes the password only as an argument, visible in ``ps`` inside the container;
    the HTTP request carries it in its body, from this process. The roll gives the containers the
    new file. After the roll: ``GET /api/whoami`` with the new value answers on every node.
    Sources: rabbitmq.com/docs/http-api-reference (users), rabbitmq.com/docs/access-control.

A secret mounted by a service of another kind is refused (:data:`RESTART_ONLY` lists those for
which a restart of the mounting services is the whole rotation). Values come from the value
files (:class:`~iklim.plan.secretnames.SecretRotation`) and the context's current secrets; as the
containers read them (``"$(cat /run/secrets/<base>)"``), trailing newlines are not part of the
password. No value reaches an argument list, a log or an error message. Errors:
:class:`~iklim.deploy.api.DeployError`, one line naming the cluster, the member and the step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from iklim.components.base import member_names
from iklim.components.patroni import SECRETS as PATRONI_SECRETS
from iklim.components.patroni import member_config
from iklim.components.rabbitmq import ADMIN_PASSWORD as RABBIT_PASSWORD
from iklim.components.redis import PASSWORD as REDIS_PASSWORD
from iklim.components.target import Target
from iklim.components.trust import is_member_tls_secret
from iklim.deploy import rotationsteps as steps
from iklim.deploy.api import DeployError, Hooks
from iklim.deploy.secretversions import SecretRotation, SecretVersionError
from iklim.model.schema import Environment
from iklim.pki.ca import PkiError, load_cert, load_key, matches

#: Base secret -> the cluster whose roll carries out its rotation (the runner's cluster keys).
CLUSTER_OF = {
    PATRONI_SECRETS["PATRONI_REPLICATION_PASSWORD"]: "patroni",
    REDIS_PASSWORD: "redis",
    RABBIT_PASSWORD: "rabbitmq",
}
#: Secrets read only by the restarted containers themselves (nothing stored in an engine).
RESTART_ONLY = frozenset(
    {
        PATRONI_SECRETS["PATRONI_RESTAPI_PASSWORD"],  # Patroni's REST API credentials, from env at start
        "alertmanager_receiver1_smtp_password",  # outbound credentials, read per notification
        "alertmanager_receiver2_webhook_token",
    }
)


class RotationContext(Protocol):
    """What the hooks need of a target: the model, the addressing (production's overlay names and
    host-mode ports from the drill seat) and the current value of a secret (the seat's own Docker
    secrets: :class:`~iklim.drill.swarmseat.SeatContext`)."""

    @property
    def env(self) -> Environment: ...

    @property
    def target(self) -> Target: ...

    def secret(self, name: str) -> str: ...


def restart_only(base: str) -> bool:
    """Whether a restart of the mounting services is the whole rotation of secret ``base``:
    :data:`RESTART_ONLY`, or a member's TLS certificate or key (a renewal, issue 17:
    :func:`iklim.components.trust.is_member_tls_secret`; the CA itself is not)."""
    return base in RESTART_ONLY or is_member_tls_secret(base)


def certificate_pairs(changes: Sequence[SecretRotation]) -> None:
    """Refuse a member certificate renewal that would not start: the certificate without its key
    (or the reverse), a file that is not PEM, or a key that is not the certificate's
    (``iklim pki issue`` writes both; copying one of them is the mistake this catches).

    Raises :class:`DeployError` naming the member's secrets, never their contents.
    """
    tls = {c.base: c for c in changes if is_member_tls_secret(c.base)}
    for stem in sorted({base.rsplit("_", 1)[0] for base in tls}):
        crt, key = tls.get(f"{stem}_crt"), tls.get(f"{stem}_key")
        if crt is None or key is None:
            raise DeployError(
                f"{stem}_crt and {stem}_key renew together: give both files (iklim pki issue writes both)"
            )
        try:
            fits = matches(load_cert(crt.value(), crt.base), load_key(key.value(), key.base))
        except (PkiError, SecretVersionError) as exc:
            raise DeployError(str(exc)) from None
        if not fits:
            raise DeployError(f"{key.base} is not the key of {crt.base} (re-issue the pair: iklim pki issue --force)")


def password(value: bytes) -> str:
    """The password a container derives from a secret's bytes: ``"$(cat FILE)"`` drops trailing newlines.

    Raises :class:`DeployError` (naming no byte of it) when the value is not UTF-8 text or is empty."""
    try:
        text = value.decode().rstrip("\n")
    except UnicodeDecodeError:
        raise DeployError("the new value is not UTF-8 text (a password: the engines take text)") from None
    if not text:
        raise DeployError("the new value is empty")
    return text


def replication_user(env: Environment, target: Target) -> str:
    """The replication role's name, as the rendered patroni.yml gives it (``authentication.replication``)."""
    member = member_names("patroni", env.services.patroni.members)[0]
    config: dict[str, Any] = member_config(env, target, member)
    return str(config["postgresql"]["authentication"]["replication"]["username"])


def _in_effect(ctx: object, base: str, value: str | None) -> None:
    """Tell a context with ``overrides`` (the drill seat's) which value is in effect now, so the
    health probes between members log in with it (found on the Swarm lab: after the RabbitMQ user's
    password changed, every probe used the seat's old mount and the roll stopped as unhealthy)."""
    overrides = getattr(ctx, "overrides", None)
    if isinstance(overrides, dict):
        if value is None:
            overrides.pop(base, None)
        else:
            overrides[base] = value


class SecretRotationHooks(Hooks):
    """Carries out ``changes`` inside the engines around the runner's cluster rolls.

    ``env``: the model; ``ctx``: :class:`RotationContext`; ``changes``: the plan's rotations
    (:func:`~iklim.plan.secretnames.resolve_secret_versions`). ``progress``: one line per step,
    never a value. Raises :class:`DeployError` at construction for a rotation no procedure here
    covers (nothing has changed yet), and from the hooks when a step fails.
    """

    def __init__(
        self,
        env: Environment,
        ctx: RotationContext,
        changes: Sequence[SecretRotation],
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        unknown = sorted(c.base for c in changes if c.base not in CLUSTER_OF and not restart_only(c.base))
        if unknown:
            raise DeployError(
                f"no rotation procedure for {', '.join(unknown)} (the engines keep it beyond the container); "
                f"rotatable: {', '.join(sorted({*CLUSTER_OF, *RESTART_ONLY}))}, "
                "member certificates and keys (tls_*_crt, tls_*_key)"
            )
        certificate_pairs(changes)  # a renewal: both files of each pair, and they match
        self.env, self.ctx, self.progress = env, ctx, progress
        self.changes = {c.base: c for c in changes if c.base in CLUSTER_OF}
        for change in self.changes.values():  # refused before anything changed, not mid-roll
            try:
                password(change.value())
            except DeployError as exc:
                raise DeployError(f"{change.base}: {exc}") from None
        self.done: list[str] = []  # "<base>:before" / "<base>:after", in order
        self.previous: dict[str, str] = {}  # base -> the value in effect before this rotation

    def _for(self, cluster: str) -> list[SecretRotation]:
        return [c for base, c in sorted(self.changes.items()) if CLUSTER_OF[base] == cluster]

    def before_cluster(self, cluster: str, services: Sequence[str]) -> None:
        """Make the new value work (and, for Redis, the old one too) before the first member restarts."""
        for change in self._for(cluster):
            new = password(change.value())
            self.previous[change.base] = current = self._current(change.base)
            if change.base == REDIS_PASSWORD:
                steps.redis_accept_both(self.ctx, current, new, self.progress)
            elif change.base == RABBIT_PASSWORD:
                steps.rabbit_change_password(self.ctx, current, new, self.progress)
            else:
                user = replication_user(self.env, self.ctx.target)
                steps.patroni_alter_role(self.ctx, user, new, self.progress)
            self.done.append(f"{change.base}:before")
            _in_effect(self.ctx, change.base, new)

    def after_cluster(self, cluster: str, services: Sequence[str]) -> None:
        """Retire the old value where it could survive the roll, and check the new one works everywhere."""
        for change in self._for(cluster):
            new = password(change.value())
            if change.base == REDIS_PASSWORD:
                steps.redis_check(self.ctx, new, self.progress)
            elif change.base == RABBIT_PASSWORD:
                steps.rabbit_check(self.ctx, new, self.progress)
            else:
                steps.patroni_replicas_streaming(self.ctx, self.progress)
            self.done.append(f"{change.base}:after")

    def rejoin_blocked(self, cluster: str) -> bool:
        """Patroni during a replication-password rotation: the role has one password, so the
        demoted primary (still on the old value) cannot stream until its own restart, which follows."""
        return cluster == "patroni" and bool(self._for(cluster))

    def undo(self) -> list[str]:
        """Put the old value back where :meth:`before_cluster` changed it, newest first (the
        rolled-back members come back on the old secret version): PostgreSQL's role and RabbitMQ's
        user get the old password again; Redis needs nothing (both values are accepted until the
        deploy's end). Found on the Swarm lab: a rolled-back Patroni stayed degraded, its replicas
        on the old password against a role that had the new one."""
        errors: list[str] = []
        for done in reversed([d for d in self.done if d.endswith(":before")]):
            base = done.split(":", 1)[0]
            old = self.previous.get(base, "")
            if not old or base == REDIS_PASSWORD:
                continue
            try:
                if base == RABBIT_PASSWORD:
                    steps.rabbit_change_password(self.ctx, password(self.changes[base].value()), old, self.progress)
                else:
                    steps.patroni_alter_role(self.ctx, replication_user(self.env, self.ctx.target), old, self.progress)
                self.done.append(f"{base}:undone")
                _in_effect(self.ctx, base, None)
            except Exception as exc:  # noqa: BLE001 - one line per failure, no value in it
                errors.append(f"{base}: the old value could not be put back: {type(exc).__name__}")
        return errors

    def after_deploy(self) -> None:
        """Retire the old Redis password only now: services outside the cluster that mount the
        secret (the Redis exporter, clients) rolled onto the new value in this same deploy, after
        the cluster; retiring it at the end of the cluster's roll left them refused until then."""
        for change in self._for("redis"):
            steps.redis_retire_old(self.ctx, password(change.value()), self.progress)
            self.done.append(f"{change.base}:retired")

    def _current(self, base: str) -> str:
        """The value in effect before this rotation (the context's secret; "" when unreadable)."""
        try:
            return self.ctx.secret(base)
        except Exception:  # noqa: BLE001 - any context's refusal: the steps then try the new value alone
            return ""
