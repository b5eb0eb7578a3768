"""The ``iklim`` command: a thin layer that parses arguments and calls model, render or check.

Subcommands are imported only when they run, so ``iklim check`` does not pay for the renderer or
pydantic, and ``iklim --help`` stays instant.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

# name -> (module, attribute, one-line help). Each attribute is a click.Command.
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "schema": ("iklim.model.commands", "schema_command", "Print the model's JSON Schema."),
    "render": ("iklim.render.commands", "render_command", "Render the production tree from the model."),
    "check": ("iklim.check.commands", "check_command", "Check a tree against the seed's policy."),
    "rules": ("iklim.check.commands", "rules_command", "List the policy rules."),
    "explain": ("iklim.check.commands", "explain_command", "Show one rule's documentation."),
    "lab": ("iklim.lab.commands", "lab_command", "Run the topology for real on this machine."),
    "swarm-lab": ("iklim.swarmlab.commands", "swarm_lab_command", "The stacks and runbook on a 6-node Swarm here."),
    "vault": ("iklim.vault.commands", "vault_command", "Bootstrap, unseal and inspect the Vault cluster."),
    "drill": ("iklim.drill.commands", "drill_command", "Failover drills: recovery time and acknowledged-write loss."),
    "status": ("iklim.status.commands", "status_command", "One quorum-aware health view of every cluster."),
    "pki": ("iklim.pki.commands", "pki_command", "The internal CA and member certificates (TLS, issue 17)."),
    "plan": ("iklim.plan.commands", "plan_command", "What a deploy would change on a Swarm, and pre-flight."),
    "deploy": (
        "iklim.deploy.commands",
        "deploy_command",
        "Apply the rendered stacks to a Swarm, converged, or roll back.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="iklim")
def cli() -> None:
    """iklim: the iklimco production infrastructure as code.

    \b
    Examples:
      iklim render                 # write the production tree from environments/prod.yaml
      iklim render --check         # exit 1 with a diff when the committed tree is stale
      iklim check .                # enforce the seed's placement boundary on a tree
      iklim lab up                 # run the topology for real on loopback addresses
      iklim status --target lab    # one health view of every cluster
      iklim swarm-lab up           # the rendered stacks and runbook on a real 6-node Swarm here
      iklim vault bootstrap        # init/unseal/join/configure Vault, safe to rerun
      iklim drill run --cluster etcd   # kill etcd's leader under load: recovery time, writes lost
      iklim pki show               # the TLS members and the names their certificates carry
      iklim plan                   # what a deploy would change on the Swarm lab, and pre-flight
      iklim deploy                 # apply that plan, service by service, waiting for convergence
    """


def main(argv: list[str] | None = None) -> Any:
    """Console entry point."""
    return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="iklim")


if __name__ == "__main__":  # python -m iklim.cli ...
    main()
