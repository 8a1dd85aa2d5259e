"""Benchmarks: each script prints figures and ratios against a baseline measured in the same run."""


def load_average() -> str:
    """The machine's load average (1, 5, 15 min) and core count, printed with every figure: the machine is shared."""
    import os

    return " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" ({os.cpu_count()} cores)"
