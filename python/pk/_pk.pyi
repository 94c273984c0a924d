"""Type stubs of the native module ``pk._pk`` (the Python layer is ``pk``)."""

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
    progress: bool = False,
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
