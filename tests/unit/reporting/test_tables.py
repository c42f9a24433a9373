import math

import pandas as pd

from harness.reporting.tables import human, markdown


def test_numbers_read_as_people_write_them() -> None:
    # each fails on the plausible bug named: a general format (1.2e+04), fixed decimals (12050.00),
    # 'nan' in a cell, a bool taken for a number, an exponent for a small figure (1.2e-04)
    assert human(12_050.0) == "12,050" and human(60_020) == "60,020"
    assert human(0.25) == "0.25" and human(8.724) == "8.72" and human(3.0) == "3"
    assert human(float("nan")) == "" and human(None) == "" and human(True) == "True"
    assert human(0) == "0" and human(0.0001234) == "0.00012" and human(math.inf) == "∞"


def test_a_report_table_has_no_exponent() -> None:
    table = pd.DataFrame({"stage": ["s0", "s7"], "p95_ms": [60_020.0, 8.724], "sessions": [0.00018, 0.0],
                          "rps": [6.278, 1_085.0], "held": [True, False]})
    text = markdown(table)
    assert "e+0" not in text and "e-0" not in text and "60,020" in text and "1,085" in text and "6.28" in text
    assert text.splitlines()[0].split("|")[1].strip() == "stage"
