"""The seed scenario shown by ``make demo`` (``python -m demo``)."""
