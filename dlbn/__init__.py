"""dlbn: the lab bench every chapter imports (data, models, training, probes, plots).

Provided code that learners read and call, like d2l's library. It never imports from
`chapters/` or `solutions/`, and it does no work at import time.
"""

__version__ = "0.1.0"
