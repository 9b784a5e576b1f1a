"""The one number formatter: missing and non-finite numbers never print as numbers."""

import math

import numpy as np
import pytest

from compmech.formatting import MISSING, fmt, plus_minus


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, np.float32("nan"),
                                   np.float64("inf")])
def test_missing_and_non_finite_values_print_as_missing(value):
    assert fmt(value) == MISSING == "n/a"
    assert fmt(value, ".2f", missing="none") == "none"


def test_finite_values_are_formatted_with_the_spec():
    assert fmt(0.000412, ".2g") == "0.00041"
    assert fmt(np.float32(0.5), ".3f") == "0.500"
    assert fmt(np.int64(7), "d") == "7" and fmt(3, ".1f") == "3.0"
    assert fmt(-0.0123, "+.2e") == "-1.23e-02"


def test_plus_minus():
    assert plus_minus(0.0123, 0.0011) == "0.0123 +- 0.0011"
    assert plus_minus(0.0123, 0.00114, ".3g", ".2g", sign="±") == "0.0123 ± 0.0011"
    assert plus_minus(0.5, None, ".2f") == "0.50"  # one seed: no spread
    assert plus_minus(None, 0.1) == MISSING
    assert plus_minus(math.nan, 0.1) == "n/a +- 0.1"
