"""pk.nca against `pk nca --csv`."""

from __future__ import annotations

import pandas as pd
import pytest

import pk

from conftest import REPO, cli_error, run_cli

THEOPH = REPO / "fixtures" / "nca_winnonlin" / "theoph_nonmem.csv"


def test_nca_is_the_cli_csv(cli, tmp_path):
    out = tmp_path / "nca.csv"
    p = run_cli(cli, "nca", str(THEOPH), "--partial", "0:12", "--csv", str(out))
    assert p.returncode == 0, p.stderr
    want = pd.read_csv(out, dtype={"ID": str, "PPORRESU": str}, keep_default_na=False, na_values=[])
    got = pk.nca(THEOPH, partial=["0:12"])
    pd.testing.assert_frame_equal(got, want)
    assert {"CMAX", "TMAX", "AUCLST"} <= set(got["PPTESTCD"])
    # From a DataFrame, and wide.
    wide = pk.nca(pd.read_csv(THEOPH, na_values=["."]), partial=[(0, 12)], wide=True)
    assert len(wide) == 12
    cmax = want[want.PPTESTCD == "CMAX"].set_index("ID")["PPORRES"]
    assert list(wide.set_index("ID")["CMAX"].loc[cmax.index]) == list(cmax)


def test_nca_errors_are_the_cli_messages(cli):
    want = cli_error(cli, "nca", str(THEOPH), "--rule", "bogus")
    with pytest.raises(pk.PkError) as e:
        pk.nca(THEOPH, rule="bogus")
    assert str(e.value) == want
