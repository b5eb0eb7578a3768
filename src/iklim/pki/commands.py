"""``iklim pki``: create the environment CA once, issue member certificates, show them.

Exit codes: 0 done; 1 ``show`` found a certificate missing, stale or due for renewal; 2 bad
input (model, folder, an existing CA, an unknown member), one ``error:`` line on stderr. No
command ever prints a private key: ``show`` prints names and dates, ``issue`` file names.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click

from iklim.model.commands import load_or_exit
from iklim.model.paths import DEFAULT_ENV
from iklim.model.schema import Environment
from iklim.pki import store
from iklim.pki.ca import PkiError, create_ca, info
from iklim.pki.members import Member, member, members
from iklim.pki.renewal import ensure_issued, existing, reason_to_issue

_ENV = click.option("--env", "env_path", default=DEFAULT_ENV, show_default=True, help="The environment model.")
_DIR = click.option(
    "--dir",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The CA folder on the manager (0700, outside the repository).",
)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _now() -> datetime:
    return datetime.now(UTC)


@click.group("pki")
def pki_command() -> None:
    """The environment's internal CA and member certificates (issue 17).

    \b
    Examples:
      iklim pki init --dir /root/iklim-pki            # once: CA key (0600) + tls_ca_crt
      iklim pki issue --dir /root/iklim-pki --all     # every member; current ones are kept
      iklim pki issue --dir /root/iklim-pki --member etcd-1
      iklim pki show --dir /root/iklim-pki            # members, names, expiry; never a key
    """


@pki_command.command("init")
@_ENV
@_DIR
def init_command(env_path: str, folder: Path) -> None:
    """Create the environment CA in DIR, once (refuses to overwrite an existing one).

    \b
    Example:
      iklim pki init --dir /root/iklim-pki
    """
    env = load_or_exit(env_path)
    try:
        store.save_ca(folder, create_ca(f"iklim {env.name} internal CA", env.tls.ca_validity_days, _now()))
    except PkiError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{folder}: {exc.strerror or exc}")
    click.echo(f"created the CA: {folder / store.CA_CERT} (key {folder / store.CA_KEY}, mode 0600)")


@pki_command.command("issue")
@_ENV
@_DIR
@click.option("--member", "names", multiple=True, help="A member (repeatable); see 'iklim pki show'.")
@click.option("--all", "every", is_flag=True, help="Every member of the model.")
@click.option("--force", is_flag=True, help="Re-issue even a current certificate.")
def issue_command(env_path: str, folder: Path, names: tuple[str, ...], every: bool, force: bool) -> None:
    """Issue member certificates from the CA in DIR, as files named like their Docker secrets.

    A member whose certificate is current (this CA, its key, the model's names, not within
    tls.renew_before_days of expiry) is kept unless --force.

    \b
    Examples:
      iklim pki issue --dir /root/iklim-pki --all
      iklim pki issue --dir /root/iklim-pki --member vault-1 --member vault-2
    """
    if every == bool(names):
        _fail("give --all or at least one --member")
    env = load_or_exit(env_path)
    try:
        chosen = members(env) if every else [member(env, n) for n in names]
        ca = store.load_ca(folder)
        store.prepare(folder)
        now = _now()
        for one in chosen:
            why = ensure_issued(folder, one, ca, env.tls.cert_validity_days, env.tls.renew_before_days, now, force)
            if why is None:
                click.echo(f"{one.name}: current, kept")
            else:
                click.echo(f"{one.name}: issued ({why}): {one.crt_name}, {one.key_name}")
    except (PkiError, LookupError) as exc:
        _fail(str(exc.args[0]) if isinstance(exc, LookupError) else str(exc))
    except OSError as exc:
        _fail(f"{folder}: {exc.strerror or exc}")


def _row(env: Environment, one: Member, folder: Path | None, now: datetime) -> tuple[str, bool]:
    names = ", ".join([*one.dns, *(str(ip) for ip in one.ips)]) or "(client certificate: no names)"
    usage = "+".join(u for u, on in (("server", one.server), ("client", one.client)) if on)
    line = f"{one.name:<20} CN={one.common_name:<9} {usage:<13} {names}"
    if folder is None:
        return line, True
    cert = existing(folder, one.crt_name)
    if cert is None:
        return f"{line}\n{'':<20} not issued", False
    details = info(cert, str(folder / one.crt_name))
    ca = existing(folder, store.CA_CERT) or b""
    why = reason_to_issue(one, cert, existing(folder, one.key_name), ca, env.tls.renew_before_days, now)
    state = "current" if why is None else f"re-issue: {why}"
    return f"{line}\n{'':<20} expires {details.not_after:%Y-%m-%d %H:%M} UTC, {state}", why is None


@pki_command.command("show")
@_ENV
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also show each issued certificate's expiry and whether it is current.",
)
def show_command(env_path: str, folder: Path | None) -> None:
    """List the members, their names (SANs) and, with --dir, expiry and state. Never a key.

    Exit 1 when --dir is given and a certificate is missing, stale or due for renewal.

    \b
    Examples:
      iklim pki show                          # what the model asks for
      iklim pki show --dir /root/iklim-pki    # and what is issued
    """
    env = load_or_exit(env_path)
    now, healthy = _now(), True
    try:
        if folder is not None:
            ca = info(store.read(folder / store.CA_CERT), str(folder / store.CA_CERT))
            click.echo(f"CA: CN={ca.subject_cn}, expires {ca.not_after:%Y-%m-%d %H:%M} UTC")
        for one in members(env):
            line, ok = _row(env, one, folder, now)
            healthy = healthy and ok
            click.echo(line)
    except PkiError as exc:
        _fail(str(exc))
    sys.exit(0 if healthy else 1)
