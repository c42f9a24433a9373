"""The one user-facing error type, caught only at the CLI boundary."""


class UserError(Exception):
    """An expected mistake or missing precondition: one clear line, exit code 2."""


class OptionError(UserError):
    """A bad value of an option, said by the option's name in the code (RunOptions' field, e.g.
    `load_processes`): the command line says it as its flag (cli.py holds the flags' names, and
    only cli.py). `message` names the options as {0}, {1}, … in the order given."""

    def __init__(self, message: str, *options: str) -> None:
        super().__init__(message.format(*(f"<{o}>" for o in options)))
        self.template, self.options = message, options

    def said_with(self, flags: dict[str, str]) -> str:
        return self.template.format(*(flags.get(o, o) for o in self.options))


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; what it had measured is kept in `run_dir`."""

    def __init__(self, run_dir: object, where: str) -> None:
        super().__init__(where)
        self.run_dir, self.where = run_dir, where


class StageFailed(Exception):
    """A stage could not be started, verified or measured; the run goes on without it."""

    def __init__(self, message: str, logs: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.logs = logs or {}


class PartLost(StageFailed):
    """A part of the lab every later stage needs is gone: the stage fails with this cause, and
    the run stops there, naming what it could not measure (what it measured before is kept)."""


class DatabaseDied(PartLost):
    """PostgreSQL died under a stage (and did not come back: harness.measure.database): an expected
    failure of the system under test, not of the harness."""


class NodeLost(PartLost):
    """A swarm node that runs a tier of the stage stopped answering: its tier is gone with it."""
