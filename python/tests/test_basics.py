"""The package imports; models load; errors are pk.PkError with the CLI's messages."""

from __future__ import annotations

import pandas as pd
import pytest

import pk

from conftest import BOLUS, PHENO, TWO_CMT_POP, cli_error


def test_import():
    assert pk.__version__
    assert issubclass(pk.PkError, Exception)
    for name in ("load_model", "popfit", "Model", "PopFitResult", "bundled_models"):
        assert hasattr(pk, name), name


def test_load_model_from_a_file_text_and_name():
    m = pk.load_model(TWO_CMT_POP)
    assert m.name == "two_cmt_pop"
    assert not m.is_control_stream
    assert m.theta_names == ["TVCL", "TVV1", "TVQ", "TVV2"]
    assert m.theta_init == [3, 60, 5, 40]
    assert m.eta_names == ["eta_cl", "eta_v1", "eta_q", "eta_v2"]
    assert m.sigma_names == ["prop"]
    t = pk.load_model(m.source)
    assert t.origin == "<text>" and t.theta_names == m.theta_names
    assert "two_cmt_pop" in pk.bundled_models()
    assert pk.load_model("two_cmt_pop").theta_names == m.theta_names
    cs = pk.load_model(PHENO)
    assert cs.is_control_stream and "pheno" in repr(cs)
    cs_text = pk.load_model(PHENO.read_text())
    assert cs_text.is_control_stream


def test_a_missing_model_file_is_the_cli_message(cli):
    want = cli_error(cli, "popfit", str(BOLUS), "--model", "no/such/model.pk")
    with pytest.raises(pk.PkError) as e:
        pk.load_model("no/such/model.pk")
    assert str(e.value) == want
    assert str(e.value).startswith("model no/such/model.pk: no such file, and not a bundled model name")


def test_an_unknown_method_is_the_cli_message(cli):
    want = cli_error(cli, "popfit", str(BOLUS), "--model", str(TWO_CMT_POP), "--drop", "SS,II", "--method", "bogus")
    with pytest.raises(pk.PkError) as e:
        pk.popfit(BOLUS, TWO_CMT_POP, method="bogus", drop=["SS", "II"])
    assert str(e.value) == want


def test_a_data_error_is_the_cli_message(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,DV,AMT\n1,0,.,100\n1,1,abc,0\n")
    want = cli_error(cli, "popfit", str(bad), "--model", str(TWO_CMT_POP))
    with pytest.raises(pk.PkError) as e:
        pk.popfit(bad, TWO_CMT_POP)
    assert str(e.value) == want
    # From a DataFrame the data are named <DataFrame>, lines counted as in its CSV (header line 1).
    df = pd.DataFrame({"ID": [1, 1], "TIME": [0, 1], "DV": [None, None], "AMT": [100, 0]})
    df["DV"] = df["DV"].astype(object)
    df.loc[1, "DV"] = "abc"
    with pytest.raises(pk.PkError, match=r"^<DataFrame>, line 3"):
        pk.popfit(df, TWO_CMT_POP)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError):
        pk.popfit(42, TWO_CMT_POP)
    with pytest.raises(TypeError):
        pk.popfit(BOLUS, 42)
    with pytest.raises(pk.PkError, match="give the model"):
        pk.popfit(BOLUS)
