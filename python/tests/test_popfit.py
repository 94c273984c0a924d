"""pk.popfit against the command line: the same OFV, estimates, SEs and tables."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

import pk

from conftest import BOLUS, PHENO, TWO_CMT_POP, run_cli


@pytest.fixture(scope="module")
def bolus_df() -> pd.DataFrame:
    return pd.read_csv(BOLUS)


@pytest.fixture(scope="module")
def bolus_path_fit() -> pk.PopFitResult:
    """From the file, with the command line's defaults (covariance step)."""
    return pk.popfit(BOLUS, TWO_CMT_POP, drop=["SS", "II"])


def test_ofv_from_a_dataframe_equals_the_cli(bolus_cli, bolus_df):
    fit = pk.popfit(bolus_df, pk.load_model(TWO_CMT_POP), method="focei", drop=["SS", "II"], covariance=False)
    want = bolus_cli["json"]["ofv"]
    print(f"OFV python {fit.ofv!r} cli {want!r} difference {fit.ofv - want:.3e}")
    assert abs(fit.ofv - want) <= 1e-6
    assert fit.converged
    assert fit.se is None and fit.covariance_failure == "not requested (covariance=False)"
    assert list(fit.theta) == bolus_cli["json"]["theta_names"]
    np.testing.assert_allclose(list(fit.theta.values()), bolus_cli["json"]["theta"], rtol=1e-9)
    np.testing.assert_allclose(fit.omega, np.array(bolus_cli["json"]["omega"]), rtol=1e-9)
    np.testing.assert_allclose(fit.sigma, np.array(bolus_cli["json"]["sigma"]), rtol=1e-9)


def test_a_dataframe_with_dropped_columns_needs_no_drop(bolus_cli, bolus_df):
    fit = pk.popfit(bolus_df.drop(columns=["SS", "II"]), TWO_CMT_POP, covariance=False)
    assert abs(fit.ofv - bolus_cli["json"]["ofv"]) <= 1e-6


def test_estimates_and_standard_errors_equal_the_cli(bolus_cli, bolus_path_fit):
    fit, want = bolus_path_fit, bolus_cli["json"]
    assert abs(fit.ofv - want["ofv"]) <= 1e-6
    assert fit.method == want["method"] == "FOCE-I"
    assert fit.omega.shape == (4, 4) and fit.sigma.shape == (1, 1)
    assert fit.se is not None
    for e in want["estimates"]:
        assert fit.se[e["name"]] == pytest.approx(e["se"], rel=1e-9), e["name"]
    assert fit.covariance.shape == (9, 9)
    assert fit.aic == pytest.approx(want["aic"], rel=1e-12)
    assert fit.bic == pytest.approx(want["bic"], rel=1e-12)
    assert fit.eps_shrinkage == pytest.approx(want["eps_shrinkage"], rel=1e-9)
    for name, s in want["eta_shrinkage"].items():
        assert fit.eta_shrinkage[name] == pytest.approx(s, rel=1e-9)
    etas = fit.etas
    assert len(etas) == want["n_subjects"] == 120
    assert list(etas.columns) == ["ID", "eta_cl", "eta_v1", "eta_q", "eta_v2"]
    assert etas["eta_cl"].iloc[0] == pytest.approx(want["etas"][0]["eta_cl"], rel=1e-9)


def test_sdtab_and_patab_equal_the_cli(bolus_cli, bolus_path_fit):
    sdtab = bolus_path_fit.sdtab
    want = pd.read_csv(bolus_cli["sdtab"], na_values=["."], keep_default_na=False)
    assert len(sdtab) == 7920  # every record, doses too
    pd.testing.assert_frame_equal(sdtab, want, rtol=1e-12)
    assert bolus_path_fit.sdtab_text() == bolus_cli["sdtab"].read_text()
    patab = bolus_path_fit.patab
    want = pd.read_csv(bolus_cli["patab"], na_values=["."], keep_default_na=False)
    pd.testing.assert_frame_equal(patab, want, rtol=1e-12)
    assert {"CL", "V1", "Q", "V2", "eta_cl"} <= set(patab.columns)


def test_a_control_stream_uses_its_data(cli, tmp_path):
    p = run_cli(cli, "popfit", str(PHENO), "--json", str(tmp_path / "pheno.json"))
    assert p.returncode == 0, p.stderr
    import json

    want = json.loads((tmp_path / "pheno.json").read_text())
    fit = pk.popfit(None, pk.load_model(PHENO))
    assert abs(fit.ofv - want["ofv"]) <= 1e-6
    assert fit.theta_names == want["theta_names"]
    np.testing.assert_allclose(list(fit.theta.values()), want["theta"], rtol=1e-9)
    np.testing.assert_allclose(fit.omega, np.array(want["omega"]), rtol=1e-9)
    # A control stream given as the data, as on the command line.
    again = pk.popfit(PHENO)
    assert again.ofv == fit.ofv
    # Its data as a DataFrame, read as $INPUT says (the header skipped by IGNORE=@).
    df = pd.read_csv(PHENO.parent / "pheno.dta", sep=r"\s+")
    from_df = pk.popfit(df, PHENO)
    assert abs(from_df.ofv - want["ofv"]) <= 1e-6


def test_popfit_releases_the_gil(bolus_df):
    """Python code runs while a fit runs in another thread."""
    ticks = 0
    done = threading.Event()
    result = {}

    def work():
        result["fit"] = pk.popfit(bolus_df, TWO_CMT_POP, drop=["SS", "II"], covariance=False)
        done.set()

    t = threading.Thread(target=work)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.perf_counter() - start
    # With the GIL held the loop would not run until the fit is over.
    assert ticks > 0.2 * elapsed / 0.002, (ticks, elapsed)
    assert result["fit"].converged


def test_evaluate_only_is_the_objective_at_the_initial_estimates(cli, bolus_df):
    p = run_cli(cli, "popfit", str(BOLUS), "--model", str(TWO_CMT_POP), "--drop", "SS,II", "--evaluate")
    assert p.returncode == 0, p.stderr
    ofv_line = next(line for line in p.stdout.splitlines() if line.startswith("OFV "))
    fit = pk.popfit(bolus_df, TWO_CMT_POP, drop=["SS", "II"], evaluate=True)
    assert f"OFV {fit.ofv:.4f} " in ofv_line
    assert fit.iterations == 0 and fit.se is None
    assert fit.theta == dict(zip(pk.load_model(TWO_CMT_POP).theta_names, pk.load_model(TWO_CMT_POP).theta_init))


def test_progress_is_reported_to_a_callable():
    seen = []
    fit = pk.popfit(PHENO, progress=lambda line, it, ofv, ev: seen.append((line, it, ofv, ev)))
    assert seen and seen[0][0].startswith(f"{fit.method} start: OFV")
    assert [s[1] for s in seen[1:]] == list(range(len(seen) - 1))
    assert seen[-1][2] >= fit.ofv - 1e-6


def test_ctrl_c_stops_a_fit(bolus_df):
    """KeyboardInterrupt at the next outer iteration, not at the end of the fit."""
    import _thread

    def call():
        return pk.popfit(bolus_df, TWO_CMT_POP, drop=["SS", "II"], covariance=False)

    start = time.perf_counter()
    call()
    full = time.perf_counter() - start
    timer = threading.Timer(0.25 * full, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        call()
        time.sleep(10)  # reached only if the fit ignored the signal; the interrupt then lands here
    elapsed = time.perf_counter() - start
    timer.cancel()
    print(f"interrupted after {elapsed:.2f} s; the whole call takes {full:.2f} s")
    assert elapsed < 0.8 * full
