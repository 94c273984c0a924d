"""Overhead of the Python layer (issue 17: ≤ 20% over the Rust call on a
1-subject fit), and the popfit of Bolus_2CPT, timed three ways:

- the CLI (`pk fit`, `pk popfit`: process start, file reading, output);
- the native call `pk._pk` (data from a path: Rust does all the work);
- the public call from a DataFrame (CSV text handed over, results parsed).

Usage: python python/bench/overhead.py [PK_CLI]   (default: target/release/pk)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

import pk
from pk import _pk

REPO = Path(__file__).resolve().parents[2]
CLOFARABINE = REPO / "fixtures" / "clofarabine" / "clofarabine_phase2.csv"
TWO_CMT_IV = REPO / "models" / "two_cmt_iv.pk"
BOLUS = REPO / "fixtures" / "nlmixr2" / "Bolus_2CPT.csv"
TWO_CMT_POP = REPO / "models" / "two_cmt_pop.pk"


def timed(f, repeat: int) -> float:
    """Median wall time of `repeat` calls, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    cli = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PK_CLI", str(REPO / "target" / "release" / "pk"))
    model = pk.load_model(TWO_CMT_IV)
    df = pd.read_csv(CLOFARABINE)
    one = df[df["ID"] == df["ID"].iloc[0]]
    rows = []
    n = 20
    rows.append(
        (
            "fit, 1 subject: CLI process",
            timed(
                lambda: subprocess.run(
                    [cli, "fit", str(CLOFARABINE), "--model", str(TWO_CMT_IV), "--id", "1"],
                    capture_output=True,
                    check=True,
                ),
                n,
            ),
        )
    )
    rows.append(("fit, 1 subject: native _pk.fit(path)", timed(lambda: _pk.fit(model, str(CLOFARABINE), ids=["1"]), n)))
    rows.append(("fit, 1 subject: pk.fit(DataFrame)", timed(lambda: pk.fit(one, model).parameters, n)))
    rows.append(
        (
            "popfit Bolus_2CPT, no covariance: CLI process",
            timed(
                lambda: subprocess.run(
                    [
                        cli,
                        "popfit",
                        str(BOLUS),
                        "--model",
                        str(TWO_CMT_POP),
                        "--drop",
                        "SS,II",
                        "--no-covariance",
                    ],
                    capture_output=True,
                    check=True,
                ),
                3,
            ),
        )
    )
    bolus = pd.read_csv(BOLUS)
    rows.append(
        (
            "popfit Bolus_2CPT, no covariance: pk.popfit(DataFrame)",
            timed(lambda: pk.popfit(bolus, TWO_CMT_POP, drop=["SS", "II"], covariance=False), 3),
        )
    )
    for name, t in rows:
        print(f"{name:<58} {t * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
