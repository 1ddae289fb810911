"""The one exception tree. Library code raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class G4RTuneError(Exception):
    """Base class of every error g4r-tune raises on purpose."""

    exit_code: int = 1


class ConfigError(G4RTuneError):
    """A configuration, parameter string or search spec is invalid (names the key path and the allowed values)."""

    exit_code = 2


class DataError(G4RTuneError):
    """Input data is missing, malformed or unusable (names the file and, where known, the line/column)."""


class TrainingDiverged(G4RTuneError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(
            f"training diverged: loss is {loss} at epoch {epoch}, step {step} "
            "(try a lower learning_rate or a different loss)"
        )
        self.epoch = epoch
        self.step = step
        self.loss = loss

    def __reduce__(self):  # keep picklable across Ray processes
        return (type(self), (self.epoch, self.step, self.loss))


class CheckpointError(G4RTuneError):
    """A checkpoint is missing, incomplete or from an incompatible version."""


class SearchError(G4RTuneError):
    """The search could not start, resume or finish."""


class ReportError(G4RTuneError):
    """A report could not be produced from an experiment folder."""


def must_be(name: str, value: object, rule: str) -> str:
    """The one error template: ``The value of `x` is 3, but must be >= 4``."""
    return f"The value of `{name}` is {value!r}, but must be {rule}"
