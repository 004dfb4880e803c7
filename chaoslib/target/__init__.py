"""What faults act on, written once: :class:`Target`, opened from a profile or a stack."""

from chaoslib.target.base import STACK_SERVICES, Target
from chaoslib.target.open import open_target

__all__ = ["STACK_SERVICES", "Target", "open_target"]
