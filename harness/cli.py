"""The `harness` command: thin Typer wrappers over library functions.

UserError is caught here and only here: one line on stderr, exit code 2.
"""

import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from harness import manifest
from harness.cpu import CpuBudget
from harness.diff import stage_diff
from harness.errors import UserError
from harness.settings import HarnessSettings
from harness.verify_ladder import StageVerification, verify_ladder

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce 'Scaling FastAPI from 180 to 1300 req/s' one fix at a time.")
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ServerCpus = Annotated[str | None, typer.Option("--server-cpus", help="CPUs of the server side (app + PostgreSQL), e.g. 1 or 2-3. Default: the last CPU.")]
LoadCpus = Annotated[str | None, typer.Option("--load-cpus", help="CPUs of the load generator, disjoint from the server's. Default: the others.")]
CpuQuota = Annotated[float | None, typer.Option("--cpu-quota", help="CPU quota of the server side in CPUs (cgroups), e.g. 0.5.")]
Stages = Annotated[list[str] | None, typer.Argument(help="Stage ids (default: the whole ladder).")]


def user_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]


@app.command("list")
@user_errors
def list_stages() -> None:
    """Print the ladder: id, title, the fix, number of services."""
    table = Table("#", "id", "title", "fix", "services")
    for stage in manifest.discover():
        table.add_row(str(stage.order), stage.id, stage.title, stage.fix, str(len(stage.services)))
    console.print(table)


@app.command()
@user_errors
def diff(a: str, b: str) -> None:
    """Show the code that changes between stage A and stage B."""
    first, second = manifest.select(manifest.discover(), [a, b]) if a != b else (None, None)
    if first is None or second is None:
        raise UserError("diff needs two different stages")
    by_id = {s.id: s for s in (first, second)}
    sys.stdout.write(stage_diff(by_id[a], by_id[b]))


@app.command()
@user_errors
def verify(
    stages: Stages = None,
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    calls: Annotated[int, typer.Option(min=0, help="Requests per endpoint for the mechanism counters (0: skip).")] = 5,
) -> None:
    """Start each stage on a fresh database, run the request script, compare all stages."""
    selected = manifest.select(manifest.discover(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, None)

    def progress(result: StageVerification) -> None:
        mark = "[green]ok[/]" if not result.problems else "[red]FAILED[/]"
        console.print(f"{result.stage.id}: {mark}")
        for problem in result.problems:
            console.print(f"  - {problem}", highlight=False)

    outcome = verify_ladder(selected, budget, HarnessSettings(), calls, progress)
    if calls:
        console.print(mechanism_table(outcome.stages))
    for difference in outcome.differences:
        console.print(f"[red]difference:[/] {difference}", highlight=False)
    if outcome.ok:
        console.print(f"[green]verify: {len(selected)} stage(s) behave identically[/]")
    else:
        raise typer.Exit(1)


def mechanism_table(results: list[StageVerification]) -> Table:
    table = Table("stage", "endpoint", "hops/req", "DB sessions/req", "statements/req",
                  title="mechanism counters (per request, sequential calls)")
    for result in results:
        for c in result.counters:
            statements = "n/a" if c.statements is None else f"{c.statements:g}"
            table.add_row(result.stage.id, c.endpoint, f"{c.hops:g}", f"{c.db_sessions:g}", statements)
        table.add_section()
    return table


def main() -> None:
    app()
