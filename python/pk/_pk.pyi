"""Type stubs of the native module ``pk._pk`` (the Python layer is ``pk``)."""

from collections.abc import Callable
from typing import Any, final

__version__: str

class PkError(Exception):
    """An error of the pk engine, with the message the ``pk`` command line prints."""

@final
class Model:
    """A model in the model language, or a NONMEM control stream (see ``pk.load_model``)."""

    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def is_control_stream(self) -> bool: ...
    @property
    def theta_names(self) -> list[str]: ...
    @property
    def theta_init(self) -> list[float]: ...
    @property
    def eta_names(self) -> list[str]: ...
    @property
    def sigma_names(self) -> list[str]: ...

@final
class PopFit:
    """A population fit (native); ``pk.PopFitResult`` wraps it."""

    def summary(self) -> dict[str, Any]: ...
    def sdtab(self, npde_samples: int = 1000, seed: int = 1) -> str: ...
    def patab(self) -> str: ...

def load_model(path_or_text: str, /) -> Model: ...
def bundled_models() -> list[str]: ...
def popfit(
    model: Model,
    data_path: str | None = None,
    data_text: str | None = None,
    data_name: str | None = None,
    method: str | None = None,
    max_iterations: int = 300,
    covariance: bool | None = None,
    cov_matrix: str | None = None,
    evaluate: bool = False,
    drop: list[str] = ...,
    accept: list[tuple[str, float]] = ...,
    inits_from: str | None = None,
    progress: Callable[[str, int, float, int], Any] | None = None,
) -> PopFit: ...
def fit(
    model: Model,
    data_path: str | None = None,
    data_text: str | None = None,
    data_name: str | None = None,
    error: str | None = None,
    weight: str | None = None,
    init: list[tuple[str, float]] = ...,
    fix: list[tuple[str, float]] = ...,
    starts: int = 4,
    tau: float | None = None,
    bsa_column: str | None = None,
    drop: list[str] = ...,
    accept: list[tuple[str, float]] = ...,
    ids: list[str] = ...,
) -> tuple[str, str, str]: ...
def nca(
    data_path: str | None = None,
    data_text: str | None = None,
    data_name: str | None = None,
    rule: str = "linear-up-log-down",
    route: str = "extravascular",
    lambda_z_points: int | None = None,
    lambda_z_range: str | None = None,
    partial: list[str] = ...,
    tau: float | None = None,
    lloq_column: str | None = None,
    blq_column: str | None = None,
    blq_before: str = "zero",
    blq_after: str = "missing",
    negative: str = "keep",
    conc_unit: str = "ng/mL",
    amount_unit: str = "mg",
    time_unit: str = "h",
    drop: list[str] = ...,
) -> tuple[str, list[str]]: ...
def simulate(
    model: Model,
    regimen: str | None = None,
    data_path: str | None = None,
    data_text: str | None = None,
    data_name: str | None = None,
    params: list[tuple[str, float]] = ...,
    covariates: list[tuple[str, float]] = ...,
    grid: str | None = None,
    at_records: bool = False,
    amounts: bool = False,
    bsa: float | None = None,
    weight: float | None = None,
    height: float | None = None,
    bsa_formula: str = "mosteller",
) -> tuple[list[str], list[float], list[float], list[list[float]] | None]: ...
def model_units(model: Model) -> tuple[str, str, str, int]: ...
