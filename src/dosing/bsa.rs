//! Body-surface area from weight and height.

use crate::error::{Error, Result};
use std::fmt;

/// A body-surface-area formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BsaFormula {
    /// Mosteller (1987): √(W·H/3600), W in kg, H in cm.
    Mosteller,
    /// Du Bois & Du Bois (1916): 0.007184·W^0.425·H^0.725.
    DuBois,
}

impl BsaFormula {
    /// Parses `mosteller` or `dubois` (also `du-bois`, `du_bois`).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "mosteller" => Ok(BsaFormula::Mosteller),
            "dubois" => Ok(BsaFormula::DuBois),
            _ => Err(Error::Argument(format!(
                "unknown BSA formula '{text}': expected mosteller or dubois"
            ))),
        }
    }

    /// BSA in m² from weight (kg) and height (cm).
    pub fn bsa(&self, weight_kg: f64, height_cm: f64) -> Result<f64> {
        if !(weight_kg > 0.0 && weight_kg.is_finite()) {
            return Err(Error::Argument(format!(
                "weight must be a positive number of kg, got {weight_kg}"
            )));
        }
        if !(height_cm > 0.0 && height_cm.is_finite()) {
            return Err(Error::Argument(format!(
                "height must be a positive number of cm, got {height_cm}"
            )));
        }
        Ok(match self {
            BsaFormula::Mosteller => (weight_kg * height_cm / 3600.0).sqrt(),
            BsaFormula::DuBois => 0.007184 * weight_kg.powf(0.425) * height_cm.powf(0.725),
        })
    }
}

impl fmt::Display for BsaFormula {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BsaFormula::Mosteller => "Mosteller",
            BsaFormula::DuBois => "Du Bois",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_adult() {
        // 70 kg, 170 cm: Mosteller √(70·170/3600) = √3.305556 = 1.818119;
        // Du Bois 0.007184·70^0.425·170^0.725 = 0.007184·6.08339·41.4097 = 1.809708
        // (independent calculation in Python 3.11).
        let m = BsaFormula::Mosteller.bsa(70.0, 170.0).unwrap();
        assert!((m - 1.818119).abs() < 1e-6, "{m}");
        let d = BsaFormula::DuBois.bsa(70.0, 170.0).unwrap();
        assert!((d - 1.809708).abs() < 1e-6, "{d}");
        assert!(BsaFormula::Mosteller.bsa(-1.0, 170.0).is_err());
    }
}
