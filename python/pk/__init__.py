"""pk: a pharmacokinetic modelling engine, from Python.

The Rust engine behind the ``pk`` command line, called in process: models
in the model language or NONMEM control streams, population fits (FOCE-I,
FOCE, FO, Laplacian) with the covariance step, sdtab and patab tables.

Data go in as pandas DataFrames with NONMEM-style columns (ID, TIME, DV,
AMT, EVID, MDV, CMT, RATE, ... and covariates) or as file paths; results
come out as DataFrames and NumPy arrays. Errors raise :class:`PkError` with
the message the command line prints.

>>> import pk
>>> fit = pk.popfit("fixtures/nlmixr2/Bolus_2CPT.csv", "models/two_cmt_pop.pk",
...                 drop=["SS", "II"])                              # doctest: +SKIP
>>> fit.ofv, fit.theta, fit.omega                                     # doctest: +SKIP
"""

from __future__ import annotations

import functools
import io
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Union

import numpy as np
import pandas as pd

from . import _pk
from ._pk import Model, PkError, bundled_models

__all__ = [
    "FitResult",
    "Model",
    "PkError",
    "PopFitResult",
    "bundled_models",
    "fit",
    "load_model",
    "nca",
    "popfit",
    "simulate",
]
__version__: str = _pk.__version__

PathLike = Union[str, "os.PathLike[str]"]
DataLike = Union[pd.DataFrame, PathLike, None]
ModelLike = Union[Model, PathLike]


def load_model(path_or_text: PathLike) -> Model:
    """Load a model.

    ``path_or_text`` is a path to a model file in the model language
    (``.pk``) or to a NONMEM control stream (``.ctl``, ``.mod``, ``.con``,
    or any file whose first record is ``$PROBLEM``), the name of a bundled
    model (see :func:`bundled_models`), or the text of a model or of a
    control stream (any string with a line break).

    Raises :class:`PkError` with the command line's message when the file
    cannot be read or the model is invalid.
    """
    return _pk.load_model(os.fspath(path_or_text))


def _as_model(model: ModelLike) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise TypeError(f"model must be a pk.Model or a path, not {type(model).__name__}")


def _is_control_stream_path(path: str) -> bool:
    if os.path.splitext(path)[1].lower() in (".ctl", ".mod", ".con"):
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    for line in head.splitlines():
        line = line.split(";")[0].strip()
        if line:
            return line.upper().startswith("$PRO")
    return False


def _dataframe_csv(df: pd.DataFrame) -> str:
    """The DataFrame as the CSV text of a NONMEM-style data file: missing
    values as ``.``, numbers written to round-trip exactly."""
    if not isinstance(df.columns, pd.Index) or any(not isinstance(c, str) for c in df.columns):
        raise TypeError("the DataFrame's columns must be strings (NONMEM item names such as ID, TIME, DV)")
    return df.to_csv(index=False, na_rep=".", lineterminator="\n")


def _accept_pairs(accept: Mapping[str, float] | Iterable[str] | None) -> list[tuple[str, float]]:
    if accept is None:
        return []
    if isinstance(accept, Mapping):
        return [(str(k), float(v)) for k, v in accept.items()]
    pairs = []
    for item in accept:
        name, sep, value = str(item).partition("=")
        if not sep:
            raise PkError(f"accept '{item}': expected COLUMN=VALUE, e.g. SD=1")
        try:
            pairs.append((name.strip(), float(value)))
        except ValueError:
            raise PkError(f"accept '{item}': value '{value}' is not a number") from None
    return pairs


def _read_table(text: str) -> pd.DataFrame:
    """A table of the engine (CSV, ``.`` for missing) as a DataFrame."""
    return pd.read_csv(io.StringIO(text), na_values=["."], keep_default_na=False)


class PopFitResult:
    """The result of :func:`popfit`.

    Attributes are computed from the fit once and kept: ``ofv``, ``theta``
    (dict name → value), ``omega`` and ``sigma`` (NumPy arrays, variances and
    covariances, rows and columns named by ``omega_names`` and
    ``sigma_names``), ``se`` (dict estimate name → standard error, ``None``
    when the covariance step did not run or failed, see
    ``covariance_failure``), ``estimates`` (DataFrame), ``etas`` (DataFrame,
    one row per subject), ``sdtab`` and ``patab`` (DataFrames, as ``pk popfit
    --table/--patab`` writes them).

    For a NONMEM control stream ``theta``, ``omega`` and ``sigma`` are in the
    control stream's numbering (as ``pk popfit --json`` reports them);
    ``estimates`` and ``se`` name the estimates of the lowered model.
    """

    def __init__(self, native: _pk.PopFit) -> None:
        self._native = native
        self._summary: dict[str, Any] = native.summary()

    def __repr__(self) -> str:
        s = self._summary
        conv = "" if s["converged"] else ", NOT CONVERGED"
        return (
            f"<pk.PopFitResult {s['method']} fit of {s['model']}: OFV {s['ofv']:.4f}, "
            f"{s['n_subjects']} subjects, {s['n_observations']} observations{conv}>"
        )

    # Scalars.
    @property
    def ofv(self) -> float:
        """Objective function value (−2LL without N·ln 2π, as NONMEM's)."""
        return self._summary["ofv"]

    @property
    def aic(self) -> float:
        """OFV + 2 · number of estimated parameters."""
        return self._summary["aic"]

    @property
    def bic(self) -> float:
        """OFV + ln(number of observations) · number of estimated parameters."""
        return self._summary["bic"]

    @property
    def method(self) -> str:
        """The estimation method (FOCE-I, FOCE, FO, Laplacian)."""
        return self._summary["method"]

    @property
    def converged(self) -> bool:
        """Whether the outer optimisation converged."""
        return self._summary["converged"]

    @property
    def message(self) -> str:
        """Why the optimisation stopped."""
        return self._summary["message"]

    @property
    def iterations(self) -> int:
        """Outer iterations."""
        return self._summary["iterations"]

    @property
    def seconds(self) -> float:
        """Wall time of the estimation (without the covariance step)."""
        return self._summary["seconds"]

    @property
    def notes(self) -> list[str]:
        """The notes the command line prints on standard error (lowering, BLQ)."""
        return list(self._summary["notes"])

    @property
    def summary(self) -> dict[str, Any]:
        """Everything but the tables, as plain Python objects (the shape of ``pk popfit --json``)."""
        return dict(self._summary)

    # Parameters.
    @property
    def theta_names(self) -> list[str]:
        return list(self._summary["theta_names"])

    @property
    def omega_names(self) -> list[str]:
        return list(self._summary["omega_names"])

    @property
    def sigma_names(self) -> list[str]:
        return list(self._summary["sigma_names"])

    @functools.cached_property
    def theta(self) -> dict[str, float]:
        """θ at the estimates, by name."""
        return dict(zip(self._summary["theta_names"], self._summary["theta"]))

    @functools.cached_property
    def omega(self) -> np.ndarray:
        """Ω at the estimates (variances and covariances of η)."""
        return np.asarray(self._summary["omega"], dtype=float).reshape(
            len(self._summary["omega_names"]), len(self._summary["omega_names"])
        )

    @functools.cached_property
    def sigma(self) -> np.ndarray:
        """Σ at the estimates (variances of ε)."""
        n = len(self._summary["sigma_names"])
        return np.asarray(self._summary["sigma"], dtype=float).reshape(n, n)

    @functools.cached_property
    def se(self) -> dict[str, float] | None:
        """Standard errors by estimate name (θ names, ``OMEGA(eta)``,
        ``SIGMA(eps)``), or ``None`` when the covariance step did not run or failed."""
        if self._summary["covariance"] is None:
            return None
        return {name: se for name, _, se, _ in self._summary["estimates"]}

    @property
    def covariance_failure(self) -> str | None:
        """Why there are no standard errors (not requested, or NONMEM's words for the failure)."""
        return self._summary["covariance_failure"]

    @functools.cached_property
    def covariance(self) -> pd.DataFrame | None:
        """Covariance matrix of the reported estimates (rows and columns named), or ``None``."""
        cov = self._summary["covariance"]
        if cov is None:
            return None
        return pd.DataFrame(np.asarray(cov["covariance"], dtype=float), index=cov["names"], columns=cov["names"])

    @functools.cached_property
    def estimates(self) -> pd.DataFrame:
        """One row per estimated element: name, estimate, se, rse_percent."""
        return pd.DataFrame(self._summary["estimates"], columns=["name", "estimate", "se", "rse_percent"])

    @functools.cached_property
    def etas(self) -> pd.DataFrame:
        """The η̂ (conditional modes; post hoc for FO), one row per subject."""
        df = pd.DataFrame(
            np.asarray(self._summary["etas"], dtype=float).reshape(
                len(self._summary["ids"]), len(self._summary["eta_names"])
            ),
            columns=self._summary["eta_names"],
        )
        df.insert(0, "ID", self._summary["ids"])
        return df

    @functools.cached_property
    def eta_shrinkage(self) -> dict[str, float]:
        """η-shrinkage (SD-based, fraction) by η."""
        return dict(zip(self._summary["eta_names"], self._summary["eta_shrinkage"]))

    @property
    def eps_shrinkage(self) -> float:
        """ε-shrinkage (NONMEM's EPSSHRINKSD, fraction)."""
        return self._summary["eps_shrinkage"]

    # Tables.
    def sdtab_text(self, npde_samples: int = 1000, seed: int = 1) -> str:
        """The sdtab as CSV text (``pk popfit --table``; NPDE from ``npde_samples`` simulations)."""
        return self._native.sdtab(npde_samples, seed)

    @functools.cached_property
    def sdtab(self) -> pd.DataFrame:
        """One row per data record: ID, TIME, TAD, DV, MDV, EVID, AMT, CMT, [DVID,] OUTPUT,
        PRED, IPRED, RES, WRES, CWRES, IWRES, EPRED, NPDE, BLQ (as ``pk popfit --table``
        with its defaults: 1000 NPDE samples, seed 1). Residuals are NaN off the observations."""
        return _read_table(self.sdtab_text())

    @functools.cached_property
    def patab(self) -> pd.DataFrame:
        """One row per subject and parameter set: ID, TIME, the individual parameters,
        the η̂, the covariates (as ``pk popfit --patab``)."""
        return _read_table(self._native.patab())


def _print_progress(line: str, iteration: int, ofv: float, evaluations: int) -> None:
    print(line, file=sys.stderr, flush=True)


def _progress_callback(progress: Any) -> Any:
    if progress is True:
        return _print_progress
    if progress is False or progress is None:
        return None
    if callable(progress):
        return progress
    raise TypeError("progress must be a bool or a callable")


def popfit(
    data: DataLike,
    model: ModelLike | None = None,
    method: str | None = None,
    *,
    max_iterations: int = 300,
    covariance: bool | None = None,
    cov_matrix: str | None = None,
    evaluate: bool = False,
    drop: Iterable[str] | None = None,
    accept: Mapping[str, float] | Iterable[str] | None = None,
    inits_from: PathLike | None = None,
    progress: bool | Callable[[str, int, float, int], Any] = False,
) -> PopFitResult:
    """Fit a population model, as ``pk popfit`` does.

    Parameters
    ----------
    data:
        A DataFrame with NONMEM-style columns, a path to a data file, or
        ``None`` with a NONMEM control stream as ``model`` (its ``$DATA``).
        A path to a control stream with ``model=None`` is taken as the model.
        With a control stream, a DataFrame or data file is read as its
        ``$INPUT`` and ``$DATA`` say.
    model:
        A :class:`Model`, or anything :func:`load_model` takes.
    method:
        ``"foce-i"`` (``"focei"``), ``"foce"``, ``"fo"`` or ``"laplace"``;
        default FOCE-I, or the control stream's ``$ESTIMATION``.
    max_iterations:
        Largest number of outer iterations.
    covariance:
        Run the covariance step (``None``: as the command line, run unless a
        control stream has no ``$COVARIANCE`` or ``evaluate`` is set).
    cov_matrix:
        ``"sandwich"`` (default, or the control stream's MATRIX=), ``"r"`` or ``"s"``.
    evaluate:
        Only compute the objective at the initial estimates (NONMEM's MAXEVAL=0).
    drop, accept:
        Data files and DataFrames with a model file: columns to ignore (e.g.
        ``["SS", "II"]``), records to keep (``{"SD": 1}`` or ``["SD=1"]``).
    inits_from:
        Control streams: initial estimates from the final row of a NONMEM ``.ext`` file.
    progress:
        ``True``: print the command line's line per outer iteration on
        standard error; or a callable ``f(line, iteration, ofv, evaluations)``
        called at each outer iteration (e.g. to update a notebook widget).

    The GIL is released during the computation. A fit that does not converge
    is returned (``converged`` False) with a :class:`RuntimeWarning`, where
    the command line exits with an error after printing the numbers.
    """
    if model is None:
        if isinstance(data, (str, os.PathLike)) and _is_control_stream_path(os.fspath(data)):
            model, data = load_model(data), None
        else:
            raise PkError(
                f"{data if isinstance(data, (str, os.PathLike)) else 'the data'}: give the model "
                "(a pk.Model, a model file, or a NONMEM control stream)"
            )
    m = _as_model(model)
    kwargs: dict[str, Any] = dict(
        method=method,
        max_iterations=int(max_iterations),
        covariance=covariance,
        cov_matrix=cov_matrix,
        evaluate=bool(evaluate),
        drop=[str(d) for d in drop] if drop is not None else [],
        accept=_accept_pairs(accept),
        inits_from=os.fspath(inits_from) if inits_from is not None else None,
        progress=_progress_callback(progress),
    )
    if isinstance(data, pd.DataFrame):
        native = _pk.popfit(m, data_text=_dataframe_csv(data), data_name="<DataFrame>", **kwargs)
    elif data is None:
        native = _pk.popfit(m, **kwargs)
    elif isinstance(data, (str, os.PathLike)):
        native = _pk.popfit(m, data_path=os.fspath(data), **kwargs)
    else:
        raise TypeError(f"data must be a pandas DataFrame, a path or None, not {type(data).__name__}")
    result = PopFitResult(native)
    if not result.converged:
        warnings.warn(
            f"the {result.method} estimation did not converge: {result.message}; the numbers are not estimates",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


def _data_kwargs(data: DataLike) -> dict[str, Any]:
    """The native calls' data arguments: a DataFrame as CSV text, or a path."""
    if isinstance(data, pd.DataFrame):
        return {"data_text": _dataframe_csv(data), "data_name": "<DataFrame>"}
    if isinstance(data, (str, os.PathLike)):
        return {"data_path": os.fspath(data)}
    raise TypeError(f"data must be a pandas DataFrame or a path, not {type(data).__name__}")


def _name_values(values: Mapping[str, float] | Iterable[str] | None, what: str) -> list[tuple[str, float]]:
    if values is None:
        return []
    if isinstance(values, Mapping):
        return [(str(k), float(v)) for k, v in values.items()]
    pairs = []
    for item in values:
        name, sep, value = str(item).partition("=")
        if not sep:
            raise PkError(f"{what} '{item}': expected NAME=VALUE, e.g. CL=20")
        try:
            pairs.append((name.strip(), float(value)))
        except ValueError:
            raise PkError(f"{what} '{item}': value '{value}' is not a number") from None
    return pairs


class FitResult:
    """The result of :func:`fit`: each subject fitted separately.

    ``json`` is the document of ``pk fit --json`` (dict); ``parameters`` one
    row per subject and parameter (estimate, SE, RSE%, 95% CI, fixed, at a
    bound); ``derived`` one row per subject with the derived exposures and
    disposition (Cmax, AUC, CL, Vss, half-lives, ...); ``subjects`` one row per
    subject (converged, message, −2LL, AIC, BIC); ``predictions`` the table of
    ``pk fit --table`` (ID, TIME, DV, PRED, RES, WRES, LINE); ``text`` the
    report the command line prints.
    """

    def __init__(self, json_text: str, table_text: str, text: str) -> None:
        self.json: dict[str, Any] = json.loads(json_text)
        self.text = text
        self._table_text = table_text

    def __repr__(self) -> str:
        subjects = self.json["subjects"]
        ok = sum(1 for s in subjects if s.get("converged"))
        return f"<pk.FitResult {self.json['model']}: {ok} of {len(subjects)} subjects converged>"

    @functools.cached_property
    def subjects(self) -> pd.DataFrame:
        rows = []
        for s in self.json["subjects"]:
            o = s.get("objective") or {}
            rows.append(
                {
                    "ID": s["id"],
                    "converged": s["converged"],
                    "message": s["message"],
                    "n_obs": s.get("n_obs"),
                    "m2ll": o.get("m2ll"),
                    "aic": o.get("aic"),
                    "bic": o.get("bic"),
                    "identifiable": s.get("identifiable"),
                }
            )
        return pd.DataFrame(rows)

    @functools.cached_property
    def parameters(self) -> pd.DataFrame:
        rows = []
        for s in self.json["subjects"]:
            for name, p in (s.get("parameters") or {}).items():
                ci = p.get("ci95") or [None, None]
                rows.append(
                    {
                        "ID": s["id"],
                        "parameter": name,
                        "estimate": p["estimate"],
                        "se": p["se"],
                        "rse_percent": p["rse_percent"],
                        "ci95_lower": ci[0],
                        "ci95_upper": ci[1],
                        "fixed": p["fixed"],
                        "at_bound": p["at_bound"],
                    }
                )
        columns = ["ID", "parameter", "estimate", "se", "rse_percent", "ci95_lower", "ci95_upper", "fixed", "at_bound"]
        return pd.DataFrame(rows, columns=columns)

    @functools.cached_property
    def derived(self) -> pd.DataFrame:
        rows = [{"ID": s["id"], **(s.get("derived") or {})} for s in self.json["subjects"]]
        return pd.DataFrame(rows)

    @functools.cached_property
    def predictions(self) -> pd.DataFrame:
        return _read_table(self._table_text)


def fit(
    data: pd.DataFrame | PathLike,
    model: ModelLike,
    error: str | None = None,
    *,
    weight: str | None = None,
    init: Mapping[str, float] | Iterable[str] | None = None,
    fix: Mapping[str, float] | Iterable[str] | None = None,
    starts: int = 4,
    tau: float | None = None,
    bsa_column: str | None = None,
    drop: Iterable[str] | None = None,
    accept: Mapping[str, float] | Iterable[str] | None = None,
    ids: Iterable[Any] | None = None,
) -> FitResult:
    """Fit every subject separately (θ and σ, η = 0), as ``pk fit`` does.

    ``error`` replaces the model's residual error models: ``"additive"``,
    ``"proportional"``, ``"combined"``, or ``"wls"`` (classical weighted least
    squares with ``weight``: ``"1"``, ``"1/y"``, ``"1/y2"``, ``"1/f"``,
    ``"1/f2"``); default the model file's. ``init`` and ``fix`` take
    ``{"CL": 20}`` or ``["CL=20"]``; ``starts`` is the number of automatic
    starts; ``tau`` the dosing interval for steady-state values; ``ids``
    fits only these subjects. Raises :class:`PkError` when no subject is
    fitted to convergence. The GIL is released during the fits.
    """
    m = _as_model(model)
    json_text, table, text = _pk.fit(
        m,
        **_data_kwargs(data),
        error=error,
        weight=weight,
        init=_name_values(init, "init"),
        fix=_name_values(fix, "fix"),
        starts=int(starts),
        tau=None if tau is None else float(tau),
        bsa_column=bsa_column,
        drop=[str(d) for d in drop] if drop is not None else [],
        accept=_accept_pairs(accept),
        ids=[str(i) for i in ids] if ids is not None else [],
    )
    return FitResult(json_text, table, text)


def nca(
    data: pd.DataFrame | PathLike,
    *,
    rule: str = "linear-up-log-down",
    route: str = "extravascular",
    lambda_z_points: int | None = None,
    lambda_z_range: str | tuple[float, float] | None = None,
    partial: Iterable[str | tuple[float, float]] = (),
    tau: float | None = None,
    lloq_column: str | None = None,
    blq_column: str | None = None,
    blq_before: str = "zero",
    blq_after: str = "missing",
    negative: str = "keep",
    conc_unit: str = "ng/mL",
    amount_unit: str = "mg",
    time_unit: str = "h",
    drop: Iterable[str] | None = None,
    wide: bool = False,
) -> pd.DataFrame:
    """Non-compartmental analysis of every subject and dosing interval, as ``pk nca``.

    Returns the rows of ``pk nca --csv``: ``ID``, ``DOSE_TIME``, ``PPTESTCD``
    (CDISC codes: CMAX, TMAX, AUCLST, AUCIFO, LAMZ, LAMZHL, ...), ``PPORRES``,
    ``PPORRESU``; with ``wide=True`` one row per subject and interval, a
    column per code. Options as the command line's (``rule``:
    ``"linear"``, ``"linear-up-log-down"``, ``"linear-log"``,
    ``"linear-log-interpolation"``; ``route`` of doses without RATE or DUR:
    ``"extravascular"`` or ``"iv-bolus"``; spans as ``"0:24"`` or ``(0, 24)``).
    Problems the command line prints on standard error (negative
    concentrations, intervals not analysed) are issued as ``UserWarning``;
    nothing analysable raises :class:`PkError`.
    """

    def as_span(v: str | tuple[float, float]) -> str:
        return v if isinstance(v, str) else f"{v[0]}:{v[1]}"

    text, problems = _pk.nca(
        **_data_kwargs(data),
        rule=rule,
        route=route,
        lambda_z_points=lambda_z_points,
        lambda_z_range=None if lambda_z_range is None else as_span(lambda_z_range),
        partial=[as_span(p) for p in partial],
        tau=None if tau is None else float(tau),
        lloq_column=lloq_column,
        blq_column=blq_column,
        blq_before=blq_before,
        blq_after=blq_after,
        negative=negative,
        conc_unit=conc_unit,
        amount_unit=amount_unit,
        time_unit=time_unit,
        drop=[str(d) for d in drop] if drop is not None else [],
    )
    for p in problems:
        warnings.warn(p, UserWarning, stacklevel=2)
    df = pd.read_csv(io.StringIO(text), dtype={"ID": str, "PPORRESU": str}, keep_default_na=False, na_values=[])
    if wide:
        df = df.pivot_table(index=["ID", "DOSE_TIME"], columns="PPTESTCD", values="PPORRES", sort=False).reset_index()
        df.columns.name = None
    return df


def simulate(
    model: ModelLike,
    regimen: str | None = None,
    *,
    data: pd.DataFrame | PathLike | None = None,
    params: Mapping[str, float] | Iterable[str] | None = None,
    covariates: Mapping[str, float] | Iterable[str] | None = None,
    grid: str | None = None,
    at_records: bool = False,
    amounts: bool = False,
    bsa: float | None = None,
    weight: float | None = None,
    height: float | None = None,
    bsa_formula: str = "mosteller",
    n: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Concentrations of one model, as ``pk simulate --model``.

    The dosing history is a ``regimen`` text (``"52 mg/m2 over 2 h every 24 h
    x 5"``; ``bsa``, or ``weight`` and ``height``, for doses per m² or kg;
    ``covariates`` ``{"WT": 70}``) or ``data`` (a DataFrame or file; one
    profile per subject). ``params`` sets θ or η by name (``{"CL": 20}``;
    others at the model's initial θ and η = 0). ``grid`` is
    ``"start:step:end"`` in the model's time unit (default: 200 steps to 24 h
    after the last dose for a regimen, the data's record times for data);
    ``at_records`` adds the record times to a grid. Returns a DataFrame with
    ``ID`` (data only), ``TIME``, ``CONC`` and with ``amounts=True``
    ``A1``, ``A2``, … (by NONMEM CMT number); the units are in ``df.attrs["units"]``.

    Virtual patients drawn from a population model (``n``, ``seed``) are the
    next stage; passing them raises :class:`PkError`.
    """
    if n is not None or seed is not None:
        raise PkError(
            "n and seed (virtual patients from a population model) are not available from Python yet: "
            "use `pk simulate --population`"
        )
    m = _as_model(model)
    data_kwargs = {} if data is None else _data_kwargs(data)
    ids, times, conc, amts = _pk.simulate(
        m,
        regimen=regimen,
        **data_kwargs,
        params=_name_values(params, "params"),
        covariates=_name_values(covariates, "covariates"),
        grid=grid,
        at_records=bool(at_records),
        amounts=bool(amounts),
        bsa=bsa,
        weight=weight,
        height=height,
        bsa_formula=bsa_formula,
    )
    time_unit, conc_unit, amount_unit, _n_states = _pk.model_units(m)
    columns: dict[str, Any] = {}
    if data is not None:
        columns["ID"] = ids
    columns["TIME"] = np.asarray(times, dtype=float)
    columns["CONC"] = np.asarray(conc, dtype=float)
    if amts is not None:
        a = np.asarray(amts, dtype=float).reshape(len(times), -1)
        for k in range(a.shape[1]):
            columns[f"A{k + 1}"] = a[:, k]
    df = pd.DataFrame(columns)
    df.attrs["units"] = {"TIME": time_unit, "CONC": conc_unit, "amount": amount_unit}
    return df
