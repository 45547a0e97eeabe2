"""CLI contract for myositis-tis, eustar-ai, mrss and criss (`remission score INDEX ...`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from remission.cli.main import app

runner = CliRunner()

TIS_CSV = """patient_id,day,phga,ptga,mmt8,haq_di,enzyme,extramuscular
B,-7,5,6,60,1.0,800,3
B,180,4,5.5,63,0.9,700,2.5
"""


def _run(tmp_path: Path, index: str, text: str, *extra: str):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(text)
    result = runner.invoke(app, ["score", index, "--input", str(src), "--output", str(out), *extra])
    return result, out


def test_myositis_tis_adult_and_juvenile(tmp_path):
    # case B of the public examples: TIS 47.5 — adult moderate (≥ 40), juvenile moderate (≥ 45)
    result, out = _run(tmp_path, "myositis-tis", TIS_CSV)
    assert result.exit_code == 0, result.output
    table = pl.read_csv(out)
    assert table["tis"].to_list() == [None, 47.5]
    assert table["tis_response"].to_list() == [None, "moderate"]
    low = TIS_CSV.replace("B,180,4,5.5,63", "B,180,4,6,60")  # ptga 0 and mmt8 0 points: TIS 35
    result, out = _run(tmp_path, "myositis-tis", low, "--population", "juvenile")
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out)["tis_response"].to_list() == [None, "minimal"]  # juvenile ≥ 30 < 45
    result, out = _run(tmp_path, "myositis-tis", low)
    assert pl.read_csv(out)["tis_response"].to_list() == [None, "minimal"]  # adult ≥ 20 < 40


def test_bad_population_exits_2(tmp_path):
    result, out = _run(tmp_path, "myositis-tis", TIS_CSV, "--population", "child")
    assert result.exit_code == 2
    assert "option population: value child" in result.output
    assert not out.exists()


def test_out_of_range_exits_2_and_writes_nothing(tmp_path):
    result, out = _run(tmp_path, "myositis-tis", TIS_CSV.replace("B,180,4,", "B,180,11,"))
    assert result.exit_code == 2
    assert "row 2, column phga: value 11: out of range" in result.output
    assert not out.exists()


def test_inconsistent_crp_exits_2(tmp_path):
    text = (
        "delta_skin,mrss,digital_ulcers,tendon_friction_rubs,crp_mg_l,crp_mg_dl,dlco_pct_pred\n"
        "0,20,0,0,15,1.5,80\n0,20,0,0,15,15,80\n"
    )
    result, out = _run(tmp_path, "eustar-ai", text)
    assert result.exit_code == 2
    assert "row 2, column crp_mg_dl: value 15: disagrees with crp_mg_l = 15" in result.output
    assert not out.exists()
    result, out = _run(tmp_path, "eustar-ai", text, "--on-error", "skip")
    assert result.exit_code == 0
    assert pl.read_csv(out)["eustar_ai"].to_list() == [3.75]
    assert (tmp_path / "out.errors.csv").exists()


def test_mrss_and_criss(tmp_path):
    areas = [
        "mrss_face",
        "mrss_anterior_chest",
        "mrss_abdomen",
        "mrss_fingers_r",
        "mrss_fingers_l",
        "mrss_hand_dorsum_r",
        "mrss_hand_dorsum_l",
        "mrss_forearm_r",
        "mrss_forearm_l",
        "mrss_upper_arm_r",
        "mrss_upper_arm_l",
        "mrss_thigh_r",
        "mrss_thigh_l",
        "mrss_lower_leg_r",
        "mrss_lower_leg_l",
        "mrss_foot_dorsum_r",
        "mrss_foot_dorsum_l",
    ]
    text = ",".join(areas) + "\n" + ",".join(["2"] * 17) + "\n"
    result, out = _run(tmp_path, "mrss", text)
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out).select("mrss", "mrss_proximal").row(0) == (34, 1)
    criss_text = (
        "patient_id,day,mrss,fvc_pct_pred,ptga,mdga,haq_di,renal_crisis,fvc_decline_ild,"
        "lv_failure,pah\nP,-7,25,80,6,6,1.5,0,0,0,0\nP,365,17,82,5,4,1.125,0,0,0,0\n"
    )
    result, out = _run(tmp_path, "criss", criss_text)
    assert result.exit_code == 0, result.output
    # Khanna 2016: LP = 3.91875 → P = 0.98052106
    assert abs(pl.read_csv(out)["criss_probability"][1] - 0.98052106) < 1e-8
