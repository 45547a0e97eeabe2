"""CLI: remission regimen, remission eligibility, remission score for the safety indices."""

import csv

from typer.testing import CliRunner

from remission.cli.main import app

runner = CliRunner()


def read(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_regimen_prints_schedule_day_minus5_to_0():
    result = runner.invoke(app, ["regimen", "--height-cm", "170", "--weight-kg", "70"])
    assert result.exit_code == 0, result.output
    assert "1.8181 → 1.82 m²" in result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    assert [line.split("│")[1].strip() for line in lines] == ["-5", "-4", "-3", "-3", "0"]
    assert "45.5" in lines[0] and "1820" in lines[3] and "7.000e+7" in lines[4]
    assert "total fludarabine: 136.5 mg" in result.output


def test_regimen_dubois_and_bad_input():
    ok = runner.invoke(app, ["regimen", "--height-cm", "160", "--weight-kg", "50", "--formula", "dubois"])
    assert ok.exit_code == 0 and "→ 1.50 m²" in ok.output
    bad = runner.invoke(app, ["regimen", "--height-cm", "300", "--weight-kg", "50"])
    assert bad.exit_code == 2
    assert "column height_cm: value 300.0: out of range" in bad.output


def test_regimen_protocol_file_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nversion: '1'\ndrugs: []\n")
    result = runner.invoke(app, ["regimen", "--height-cm", "170", "--weight-kg", "70", "--protocol", str(path)])
    assert result.exit_code == 2
    assert "at least one drug" in result.output


def test_eligibility_cli_writes_per_criterion_columns(tmp_path):
    src = tmp_path / "patients.csv"
    src.write_text(
        "patient_id,age_years,prior_immunosuppressants,disease,nephritis_class,active_nephritis\n"
        "p1,30,3,sle,IV,1\n"
        "p2,30,1,sle,III,1\n"
        "p3,,3,sle,III,1\n"
    )
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["eligibility", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = read(out)
    assert [r["eligible"] for r in rows] == ["1", "0", ""]
    assert [r["refractory_met"] for r in rows] == ["1", "0", "1"]
    assert "age: undecided" in rows[2]["eligibility_explain"]


def test_eligibility_cli_bad_cell_exit_2_nothing_written(tmp_path):
    src = tmp_path / "patients.csv"
    src.write_text("patient_id,age_years,disease\np1,thirty,sle\np2,40,lupus\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["eligibility", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 2
    assert "row 1, column age_years: value thirty: expected float" in result.output
    assert "row 2, column disease: value lupus: expected one of sle, myositis, ssc" in result.output
    assert not out.exists()


def test_score_icaht_cli_and_error(tmp_path):
    src = tmp_path / "anc.csv"
    src.write_text("patient_id,day,anc_10e9_l\na,0,0.3\na,10,2.0\nb,0,x\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", "icaht", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 2
    assert "row 3, column anc_10e9_l: value x: not a number" in result.output
    assert not out.exists()
    src.write_text("patient_id,day,anc_10e9_l\na,0,0.3\na,10,2.0\n")
    result = runner.invoke(app, ["score", "icaht", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = read(out)
    assert (
        rows[0]["patient_id"],
        rows[0]["icaht_early_grade"],
        rows[0]["icaht_early_days_anc_le_0_5"],
    ) == ("a", "2", "10")


def test_score_crs_cli_skip_invalid(tmp_path):
    src = tmp_path / "crs.csv"
    src.write_text(
        "temperature_c,fever_other_cause,anti_cytokine_given,hypotension,oxygen\n"
        "38.5,0,0,none,none\n39,0,0,pressor,none\n"
    )
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", "crs", "--input", str(src), "--output", str(out), "--on-error", "skip"])
    assert result.exit_code == 0
    assert [r["crs_grade"] for r in read(out)] == ["1"]
    assert (tmp_path / "out.errors.csv").exists()


def test_score_regimen_protocol_option_cli(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("height_cm,weight_kg\n170,70\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "score",
            "regimen",
            "--input",
            str(src),
            "--output",
            str(out),
            "--protocol",
            "erlangen-2024",
        ],
    )
    assert result.exit_code == 0, result.output
    assert read(out)[0]["cyclophosphamide_mg"] == "1820"
