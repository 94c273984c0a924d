"""Shared fixtures: the repository's paths and the `pk` command line to compare with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOLUS = REPO / "fixtures" / "nlmixr2" / "Bolus_2CPT.csv"
TWO_CMT_POP = REPO / "models" / "two_cmt_pop.pk"
PHENO = REPO / "fixtures" / "pheno" / "pheno_real.mod"


def _find_cli() -> Path:
    """The `pk` binary of this repository: $PK_CLI, else target/release/pk
    (under $CARGO_TARGET_DIR or the repository), built when missing."""
    if os.environ.get("PK_CLI"):
        return Path(os.environ["PK_CLI"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    cli = target / "release" / "pk"
    if not cli.exists():
        if shutil.which("cargo") is None:
            pytest.skip("no pk binary (set PK_CLI) and no cargo to build one")
        subprocess.run(["cargo", "build", "--release", "--bin", "pk"], cwd=REPO, check=True)
    return cli


@pytest.fixture(scope="session")
def cli() -> Path:
    return _find_cli()


def run_cli(cli: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the command line; the completed process (exit code not checked)."""
    return subprocess.run([str(cli), *args], cwd=cwd or REPO, capture_output=True, text=True)


def cli_error(cli: Path, *args: str) -> str:
    """The message of a command that fails: its standard error's `error: ` line."""
    p = run_cli(cli, *args)
    assert p.returncode != 0, p.stdout
    lines = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
    assert lines, p.stderr
    return lines[-1][len("error: ") :]


@pytest.fixture(scope="session")
def bolus_cli(cli: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`pk popfit Bolus_2CPT --model two_cmt_pop.pk --drop SS,II` with its JSON,
    sdtab and patab (the command line's defaults otherwise)."""
    d = tmp_path_factory.mktemp("bolus_cli")
    p = run_cli(
        cli,
        "popfit",
        str(BOLUS),
        "--model",
        str(TWO_CMT_POP),
        "--drop",
        "SS,II",
        "--json",
        str(d / "fit.json"),
        "--table",
        str(d / "sdtab.csv"),
        "--patab",
        str(d / "patab.csv"),
    )
    assert p.returncode == 0, p.stderr
    return {
        "json": json.loads((d / "fit.json").read_text()),
        "sdtab": d / "sdtab.csv",
        "patab": d / "patab.csv",
    }
