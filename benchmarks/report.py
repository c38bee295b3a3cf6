"""How the benchmarks print a figure measured over several seeds or rounds."""

from __future__ import annotations

import statistics


def median_range(values: list[float], fmt: str) -> str:
    """The median, and the range beside it when there is more than one value."""
    median = fmt.format(statistics.median(values))
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"
