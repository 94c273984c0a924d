"""pk.fit against `pk fit`: the same JSON document, table and report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import pk

from conftest import REPO, cli_error, run_cli

CLOFARABINE = REPO / "fixtures" / "clofarabine" / "clofarabine_phase2.csv"
TWO_CMT_IV = REPO / "models" / "two_cmt_iv.pk"


@pytest.fixture(scope="module")
def fit_cli(cli, tmp_path_factory):
    d = tmp_path_factory.mktemp("fit_cli")
    p = run_cli(
        cli,
        "fit",
        str(CLOFARABINE),
        "--model",
        str(TWO_CMT_IV),
        "--error",
        "proportional",
        "--json",
        str(d / "fit.json"),
        "--table",
        str(d / "fit.csv"),
    )
    assert p.returncode == 0, p.stderr
    return {"json": json.loads((d / "fit.json").read_text()), "table": (d / "fit.csv").read_text(), "text": p.stdout}


def test_fit_from_a_file_is_the_cli(fit_cli):
    r = pk.fit(CLOFARABINE, TWO_CMT_IV, error="proportional")
    assert r.json == fit_cli["json"]
    assert r.text == fit_cli["text"]
    assert r._table_text == fit_cli["table"]
    assert r.predictions.shape[0] == fit_cli["table"].count("\n") - 1
    params = r.parameters
    assert set(params["parameter"]) == {"CL", "V1", "Q", "V2", "sigma_prop"}
    assert len(r.subjects) == len(fit_cli["json"]["subjects"])
    assert "cl" in r.derived.columns


def test_fit_from_a_dataframe_has_the_same_estimates(fit_cli):
    df = pd.read_csv(CLOFARABINE)
    r = pk.fit(df, pk.load_model(TWO_CMT_IV), "proportional", ids=[1, 2])
    assert list(r.subjects["ID"]) == ["1", "2"]
    for got, want in zip(r.json["subjects"], fit_cli["json"]["subjects"][:2]):
        assert got["objective"]["m2ll"] == pytest.approx(want["objective"]["m2ll"], rel=1e-12, abs=1e-9)
        for name, p in want["parameters"].items():
            assert got["parameters"][name]["estimate"] == pytest.approx(p["estimate"], rel=1e-9)


def test_fit_errors_are_the_cli_messages(cli):
    want = cli_error(cli, "fit", str(CLOFARABINE), "--model", str(TWO_CMT_IV), "--error", "bogus")
    with pytest.raises(pk.PkError) as e:
        pk.fit(CLOFARABINE, TWO_CMT_IV, error="bogus")
    assert str(e.value) == want
    with pytest.raises(pk.PkError, match="model language"):
        pk.fit(CLOFARABINE, pk.load_model(REPO / "fixtures" / "pheno" / "pheno_real.mod"))
