"""Tables in a report as people read them: 12,050 not 1.2e+04, 0.00018 not 1.8e-04, empty not nan."""

import math
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd


def human(value: Any) -> str:
    """One cell: thousands separated from 100 up, three significant digits below, two under 0.001."""
    if isinstance(value, bool) or not isinstance(value, Number):
        return "" if value is None else str(value)
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    if abs(v) >= 100 or v.is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 0.001:
        return f"{v:.3g}"
    return str(np.format_float_positional(v, precision=2, unique=False, fractional=False, trim="-"))


def markdown(table: pd.DataFrame) -> str:
    """`table` as a Markdown table with every number formatted by `human`."""
    return table.map(human).to_markdown(index=False, disable_numparse=True)
