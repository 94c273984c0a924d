"""pk.simulate against `pk simulate --model`."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import pk

from conftest import REPO, run_cli

REGIMEN = "52 mg/m2 over 2 h every 24 h x 5"
CLOFARABINE = REPO / "fixtures" / "clofarabine" / "clofarabine_phase2.csv"


def cli_csv(cli, *args):
    p = run_cli(cli, "simulate", *args)
    assert p.returncode == 0, p.stderr
    return pd.read_csv(io.StringIO(p.stdout), na_values=["."], keep_default_na=False)


def test_a_regimen_is_the_cli(cli):
    want = cli_csv(cli, "--model", "two_cmt_iv", "--regimen", REGIMEN, "--bsa", "1.2", "--param", "CL=20", "--amounts")
    got = pk.simulate("two_cmt_iv", REGIMEN, bsa=1.2, params={"CL": 20}, amounts=True)
    assert len(got) == len(want) > 100
    np.testing.assert_array_equal(got["TIME"].to_numpy(), want.iloc[:, 0].to_numpy())
    np.testing.assert_array_equal(got["CONC"].to_numpy(), want.iloc[:, 1].to_numpy())
    np.testing.assert_array_equal(got.iloc[:, 2:].to_numpy(), want.iloc[:, 2:].to_numpy())
    assert got.attrs["units"]["CONC"] in want.columns[1]


def test_data_profiles_are_the_cli(cli):
    model = REPO / "models" / "two_cmt_iv.pk"
    want = cli_csv(cli, "--model", str(model), "--data", str(CLOFARABINE), "--grid", "0:0.5:24")
    got = pk.simulate(model, data=pd.read_csv(CLOFARABINE, na_values=["."]), grid="0:0.5:24")
    assert list(got["ID"].astype(str)) == list(want["ID"].astype(str))
    np.testing.assert_array_equal(got["CONC"].to_numpy(), want.iloc[:, 2].to_numpy())


def test_simulate_errors():
    with pytest.raises(pk.PkError, match="parameter XYZ"):
        pk.simulate("two_cmt_iv", REGIMEN, bsa=1.2, params={"XYZ": 1})
    with pytest.raises(pk.PkError, match="not available from Python yet"):
        pk.simulate("two_cmt_pop", REGIMEN, n=100, seed=1)
