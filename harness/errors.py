"""The one user-facing error type, caught only at the CLI boundary."""


class UserError(Exception):
    """An expected mistake or missing precondition: one clear line, exit code 2."""


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


class DatabaseDied(StageFailed):
    """PostgreSQL died under a stage: an expected failure of the system under test, not of the
    harness. The stage fails with this cause; the stages after it cannot run on that server."""
