"""The ``iklim check``, ``iklim rules`` and ``iklim explain`` commands.

Only click is imported here; the checker is imported when a command runs.
"""

from __future__ import annotations

import click

FORMATS = ("text", "json", "sarif", "github")
CHECK_SECONDS = 60.0  # wall-clock bound of one check: a backstop behind the per-file bounds


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option("--no-ignore", is_flag=True, help="Report findings silenced by '# iklim: ignore[...]' too.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    help="YAML file overriding policy parameters (subnets, member counts, ...); applies after the config's.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Rule configuration (default: .iklim-check.yaml found upward from the first path).",
)
def check_command(
    paths: tuple[str, ...], fmt: str, no_ignore: bool, policy_file: str | None, config_file: str | None
) -> None:
    """Check a repository tree (default: .) or files against the seed's production policy.

    Given a directory it reads the root stack files, config/**, init-infra-prod.sh,
    init/vault/*.sh and terraform/hetzner/prod/*.tf, and looks for superseded overlay files
    anywhere in the tree (dot-files skipped), classifying files by their path below the given
    folder and their content. Given files, it checks those. Parameters come from the seed, then
    environments/prod.yaml, then the tree's subnets, then the config's policy:, then --policy.

    Rules are configured as in yamllint: .iklim-check.yaml, found in the first path's folder or
    above (up to the folder holding .git), or --config FILE, with 'rules: {RULE: disable}',
    'rules: {RULE: {severity: warning}}' or a rule's options (see 'iklim explain RULE'), and
    'policy:' taking the keys of a --policy file.

    Silence one finding with a comment on its line or on its service key, with a reason:
    "# iklim: ignore[overlay-only] the lab publishes Redis for debugging".

    Exit status: 0 no errors, 1 error findings, 2 unusable input. A file or directory that
    cannot be read or parsed is reported as an 'unusable-input' error finding (and on stderr),
    the rest of the tree is still checked, and the exit status is 2.

    \b
    Examples:
      iklim check                                   # the repository in the working directory
      iklim check docker-stack-infra_db-prod.yml    # one file
      iklim check . --format sarif > iklim.sarif    # for code scanning
      iklim check --format github                   # annotations in a GitHub workflow
      iklim check --config ci/iklim-check.yaml      # rule settings from another file
    """
    from iklim.check.findings import InputError
    from iklim.check.rules import RULES
    from iklim.model.bounded import TimeLimitExceeded, time_limit

    rules = RULES
    try:
        from iklim.check import output
        from iklim.check.config import resolve_config
        from iklim.check.documents import load
        from iklim.check.engine import run
        from iklim.check.policyfile import resolve

        targets = list(paths) or ["."]
        with time_limit(CHECK_SECONDS):
            config = resolve_config(targets, config_file, RULES)
            rules = config.active(RULES)
            docs = load(targets)
            policy = resolve(targets, docs, policy_file, config)
            result = run(docs, policy, rules, no_ignore, config.severities())
    except TimeLimitExceeded:
        click.echo(
            output.plain(f"iklim check: error: {', '.join(targets)}: checking took longer than {CHECK_SECONDS:g} s"),
            err=True,
        )
        raise SystemExit(2) from None
    except InputError as exc:
        click.echo(output.plain(f"iklim check: error: {exc}"), err=True)
        if fmt == "sarif":
            click.echo(output.sarif(None, rules, exc), nl=False)
        raise SystemExit(2) from None
    except Exception as exc:  # a bug must still end in one line, not a traceback
        message = " ".join(str(exc).split())[:300]
        click.echo(output.plain(f"iklim check: internal error: {type(exc).__name__}: {message}"), err=True)
        raise SystemExit(2) from None
    render = {"text": output.text, "json": output.as_json, "github": output.github}
    if fmt == "sarif":
        click.echo(output.sarif(result, rules), nl=False)
    else:
        click.echo(render[fmt](result), nl=False)
    for problem in result.problems:
        click.echo(output.plain(f"iklim check: error: {problem}"), err=True)
    if result.problems:
        raise SystemExit(2)
    if output.summary(result)["errors"]:
        raise SystemExit(1)


@click.command("rules")
def rules_command() -> None:
    """List the policy rules: ID, severity and summary.

    \b
    Example:
      iklim rules
      iklim explain overlay-only    # one rule's documentation
    """
    from iklim.check.rules import RULES

    width = max(len(rule.id) for rule in RULES)
    for rule in RULES:
        click.echo(f"{rule.id:<{width}}  {rule.severity.value:<7}  {rule.summary}")


@click.command("explain")
@click.argument("rule_id", metavar="RULE")
def explain_command(rule_id: str) -> None:
    """Print a rule's documentation, with a failing and a passing example.

    \b
    Example:
      iklim explain db-placement
    """
    from iklim.check.rules import RULES, by_id

    rule = by_id(rule_id)
    if rule is None:
        known = ", ".join(r.id for r in RULES)
        click.echo(f"iklim explain: error: unknown rule {rule_id!r} (known: {known})", err=True)
        raise SystemExit(2)
    click.echo(f"{rule.id} ({rule.severity.value})\n")
    click.echo(rule.doc.strip())
    click.echo("\nAn example without a path is a compose file (check it as stack.yml).")
    if rule.options:
        from iklim.check.config import settings_table

        click.echo(f"\nOptions (set in .iklim-check.yaml under 'rules: {{{rule.id}: {{OPTION: VALUE}}}}'):")
        for line in settings_table(rule.options):
            click.echo(f"  {line}")
