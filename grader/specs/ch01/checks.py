"""ch01 checks: batch norm forward (ch01.1), backward (ch01.2) and module (ch01.3).

torch is the oracle: match checks run the same inputs through ``F.batch_norm``,
autograd and ``nn.BatchNorm1d/2d`` in the reference process.
"""

from grader.specs.ch01.checks_backward import BACKWARD
from grader.specs.ch01.checks_forward import FORBIDDEN, FORWARD
from grader.specs.ch01.checks_module import MODULE

CHECKS = (*FORWARD, *BACKWARD, *MODULE)
__all__ = ["CHECKS", "FORBIDDEN"]
