"""The drug table: classes, synonyms, prednisone equivalents, unknown names, user extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from remission.errors import InvalidInputError
from remission.medications import CLASSES, default_table, drug_class, load_drug_table

# Classes as listed in medications.md.
CLASS_CASES = [
    ("prednisone", "glucocorticoid"),
    ("Methylprednisolone", "glucocorticoid"),
    ("HCQ", "antimalarial"),
    ("mepacrine", "antimalarial"),
    ("MMF", "immunosuppressant"),
    ("voclosporin", "immunosuppressant"),
    ("upadacitinib", "immunosuppressant"),
    ("IVIG", "immunomodulator"),
    ("anifrolumab", "biologic"),
    ("Obinutuzumab", "biologic"),
    ("nintedanib", "antifibrotic"),
    ("  cyclosporine ", "immunosuppressant"),
]


@pytest.mark.parametrize(("name", "expected"), CLASS_CASES, ids=[c[0].strip() for c in CLASS_CASES])
def test_drug_class_against_medications_spec(name: str, expected: str) -> None:
    assert drug_class(name) == expected


# Equivalents of medications.md (mg equivalent to prednisone 5 mg).
EQUIVALENTS = [
    ("prednisone", 5.0),
    ("prednisolone", 5.0),
    ("methylprednisolone", 4.0),
    ("triamcinolone", 4.0),
    ("hydrocortisone", 20.0),
    ("cortisone", 25.0),
    ("dexamethasone", 0.75),
    ("betamethasone", 0.6),
    ("deflazacort", 6.0),
    ("budesonide", None),
]


@pytest.mark.parametrize(("name", "equivalent"), EQUIVALENTS, ids=[e[0] for e in EQUIVALENTS])
def test_prednisone_equivalents_against_medications_spec(name: str, equivalent: float | None) -> None:
    assert default_table().lookup(name).prednisone_equivalent_mg == equivalent


def test_every_class_is_known_and_names_are_unique() -> None:
    table = default_table()
    assert {d.drug_class for d in table.drugs} <= set(CLASSES)
    aliases = [a for d in table.drugs for a in d.aliases]
    assert len(aliases) == len(set(aliases))


def test_unknown_drug_names_the_drug_and_suggests_close_names() -> None:
    with pytest.raises(InvalidInputError) as err:
        drug_class("rituximap")
    assert str(err.value) == (
        "column drug: value rituximap: unknown drug; did you mean rituximab, rituxan? (or extend the drug table)"
    )


def test_user_table_extends_the_shipped_one(tmp_path: Path) -> None:
    extra = tmp_path / "local.csv"
    extra.write_text("name,synonyms,atc,class,prednisone_equivalent_mg\nteclistamab,tecvayli,,biologic,\n")
    table = load_drug_table(extra)
    assert table.drug_class("Tecvayli") == "biologic"
    assert table.version == "1+local.csv"
    assert drug_class("prednisone", table) == "glucocorticoid"


def test_user_table_with_bad_class_or_duplicate_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,synonyms,atc,class,prednisone_equivalent_mg\nfoo,,,vitamin,\n")
    with pytest.raises(InvalidInputError, match="row 1, column class: value vitamin"):
        load_drug_table(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("name,synonyms,atc,class,prednisone_equivalent_mg\nplaquenil,,,antimalarial,\n")
    with pytest.raises(InvalidInputError, match="already in the drug table"):
        load_drug_table(dup)
