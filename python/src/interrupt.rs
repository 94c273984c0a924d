//! Ctrl-C during a long computation, without a hook in the engine: a
//! callback that the engine calls on the computing thread (once per outer
//! iteration of a population fit) runs Python's signal handlers with the GIL
//! taken; when one raises (KeyboardInterrupt), the computation is unwound
//! from the callback ([`raise`], no panic message: `resume_unwind` skips the
//! panic hook) and [`catch`] turns it back into the Python exception.
//!
//! Only for callbacks the engine calls outside its parallel sections and
//! locks (`estimate_with`'s `observe`): unwinding there drops what the
//! estimation holds, nothing else.

use crate::to_py;
use pyo3::PyErr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The unwinding payload: the Python exception raised by a signal handler.
struct Interrupted(PyErr);

/// Unwinds the computation with `e` (to [`catch`]).
pub(crate) fn raise(e: PyErr) -> ! {
    resume_unwind(Box::new(Interrupted(e)))
}

/// Runs `f`; an [`Interrupted`] unwind becomes its Python exception, an
/// engine error `pk.PkError`, any other panic goes on.
pub(crate) fn catch<T>(f: impl FnOnce() -> pk::Result<T>) -> pyo3::PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(payload) => match payload.downcast::<Interrupted>() {
            Ok(i) => Err(i.0),
            Err(other) => resume_unwind(other),
        },
    }
}
