"""The runner: steady state, the faults on their schedule, heal, the checks; a Journal.

The face re-exports what a user writes an experiment with. The file reader
(:mod:`chaoslib.experiment.file`) is not imported here: it opens a Target, a layer above.
"""

from chaoslib.experiment.checks import Verdict
from chaoslib.experiment.journal import Journal
from chaoslib.experiment.runner import Check, Experiment, FaultRun, RunContext, Step

__all__ = ["Check", "Experiment", "FaultRun", "Journal", "RunContext", "Step", "Verdict"]
