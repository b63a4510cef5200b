"""A small `bots.yaml` on a SQLite file, and the command line run against it: what the tests of
the commands that read a deployment share."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bots import cli

FLOWS = Path(__file__).parents[2] / "examples" / "flows"


def write_config(folder: Path, bot: str, flow: str, *, database: str, extra: str = "") -> Path:
    """`folder/bots.yaml`: one bot on an example flow, a SQLite store, and `extra` top-level
    settings (YAML lines)."""
    path = folder / "bots.yaml"
    lines = [f"store: sqlite://{database}", *extra.splitlines(), "bots:"]
    lines += [f"  - id: {bot}", f"    flow: {FLOWS / flow}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ERASURE_ENV = {"ERASURE_SALT": "sel-secret"}
"""The environment of a `compliance_config` deployment: the salt of erased phones' hashes."""


def compliance_config(folder: Path) -> Path:
    """`write_config` of the bot `rdv` on the appointment flow, with the compliance settings
    that erasure needs (R34): the business, and the salt read from `ERASURE_ENV`."""
    extra = "compliance: {business: prado, erasure_salt_env: ERASURE_SALT}"
    return write_config(folder, "rdv", "appointment.yaml", database="causette.db", extra=extra)


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `causette ARGS` (wide, so that tables keep one line)."""
    result = CliRunner(env={"COLUMNS": "200", **(env or {})}).invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr
