"""Column-wise checks of directory rows agree with the row-by-row rules they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from suppliers.normalise import clean_postal_code, siret_problem
from suppliers.validate import Rules, check_chunk, digit_strings, siret_checks

SIRETS = st.one_of(
    st.text(alphabet="0123456789", min_size=14, max_size=14),
    st.text(alphabet="0123456789", min_size=5, max_size=5).map(lambda t: "356000000" + t),
    st.text(alphabet="0123456789 A٣", min_size=12, max_size=15),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(SIRETS, min_size=1, max_size=40))
def test_the_siret_digit_matrix_agrees_with_the_one_by_one_check(sirets: list[str]) -> None:
    malformed, failing = siret_checks(np.array(sirets, dtype=object))
    for siret, short, bad in zip(sirets, malformed, failing, strict=True):
        problem = siret_problem(siret)
        assert short == ("14 digits" in (problem or ""))
        assert bad == ("checksum" in (problem or ""))


def test_la_poste_establishments_pass_by_their_digit_sum() -> None:
    _, failing = siret_checks(np.array(["35600000049837", "35600000049838"], dtype=object))
    assert failing.tolist() == [False, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789 .٣x", max_size=7), min_size=1, max_size=30))
def test_plain_digit_strings_are_told_apart_as_a_byte_matrix(values: list[str]) -> None:
    found = digit_strings(np.array(values, dtype=object), 5)
    assert found.tolist() == [len(v) == 5 and v.isascii() and v.isdigit() for v in values]
    assert all(clean_postal_code(v) == v for v, plain in zip(values, found, strict=True) if plain)


def rules() -> Rules:
    return Rules(
        regions={"Bretagne": 1},
        items={"petg", "elastic"},
        default_region=None,
        direccte=True,
        directory=None,
    )


def chunk(rows: list[dict[str, str]], first_line: int = 2) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype=object)
    frame["line"] = range(first_line, first_line + len(rows))
    return frame


ROW = {
    "name": "Exemple (fictif)",
    "siret": "732 829 320 00074",
    "postal_code": "29200",
    "city": "Brest",
    "region": "bretagne",
    "products": "filament PETG; élastique plat",
    "lead_time": "2 semaines",
}


def test_a_valid_row_comes_out_normalised() -> None:
    valid, rejected = check_chunk(chunk([ROW]), rules())
    assert rejected == []
    row = valid.iloc[0]
    assert (row.siret, row.region_id, row.lead_time_days, row.directory) == (
        "73282932000074",
        1,
        14,
        "DIRECCTE Bretagne",
    )
    assert [code for code, _ in row.materials] == ["petg", "elastic"]


def test_every_problem_of_a_row_is_named_in_reading_order() -> None:
    bad = {**ROW, "name": "", "siret": "1234", "postal_code": "2920X", "region": "Armorique"}
    _, rejected = check_chunk(chunk([bad], first_line=7), rules())
    assert [(r.line, r.reason) for r in rejected] == [
        (
            7,
            "no company name; SIRET '1234' must be 14 digits; postal code '2920X' is not 5 "
            "digits; region 'Armorique' is not one of the 18 French regions",
        )
    ]


def test_duplicates_name_the_first_line_across_chunks() -> None:
    shared = rules()
    other = {**ROW, "siret": "", "name": "Autre"}
    check_chunk(chunk([ROW, other]), shared)
    _, rejected = check_chunk(chunk([other, ROW, ROW], first_line=10), shared)
    assert [(r.line, r.reason) for r in rejected] == [
        (10, "duplicate of line 3 (same name and postal code)"),
        (11, "duplicate of line 2 (same SIRET 73282932000074)"),
        (12, "duplicate of line 2 (same SIRET 73282932000074)"),
    ]
