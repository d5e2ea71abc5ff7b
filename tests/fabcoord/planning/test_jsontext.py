"""A plan's JSON text: keys sorted, UTF-8 kept, the same values as json's, numpy numbers as
numbers, and what json's ``default=str`` wrote as text still text."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import numpy as np

from fabcoord.planning.jsontext import dumps


def test_the_text_reads_back_to_the_values_json_wrote() -> None:
    value = {"b": [1, 2.5, None, True], "a": {"z": "Évry", "y": date(2026, 4, 6)}, "c": ""}
    text = dumps(value)
    assert text.decode().startswith('{"a":{"y":"2026-04-06","z":"Évry"}')
    assert json.loads(text) == json.loads(json.dumps(value, sort_keys=True, default=str))


def test_numpy_numbers_stay_numbers_and_other_values_become_text() -> None:
    text = dumps({"n": np.int64(3), "x": np.float64(1.5), "d": Decimal("2.50")})
    assert json.loads(text) == {"d": "2.50", "n": 3, "x": 1.5}
