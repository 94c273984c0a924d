//! Units of amount, volume, time and concentration, and the conversion between
//! the model's internal amount/volume and the reported concentration.
//!
//! Defaults are mg, L, h and ng/mL, so 52 mg/m² dosed into litres prints ng/mL
//! without the user multiplying by 1000.

use crate::error::{Error, Result};
use std::fmt;

/// A mass unit for amounts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmountUnit {
    name: &'static str,
    /// Grams per unit as a power of ten, so that conversions are exact.
    exponent: i32,
}

const AMOUNTS: &[(&[&str], &str, f64)] = &[
    (&["g"], "g", 0.0),
    (&["mg"], "mg", -3.0),
    (&["ug", "µg", "μg", "mcg"], "ug", -6.0),
    (&["ng"], "ng", -9.0),
    (&["pg"], "pg", -12.0),
];

const VOLUMES: &[(&[&str], &str, f64)] = &[
    (&["l", "L"], "L", 0.0),
    (&["dl", "dL"], "dL", -1.0),
    (&["ml", "mL"], "mL", -3.0),
    (&["ul", "uL", "µL", "μL"], "uL", -6.0),
];

/// 10^e, exact for the exponents used here.
fn pow10(e: i32) -> f64 {
    if e >= 0 {
        10f64.powi(e)
    } else {
        1.0 / 10f64.powi(-e)
    }
}

const TIMES: &[(&[&str], &str, f64)] = &[
    (&["h", "hr", "hrs", "hour", "hours"], "h", 1.0),
    (&["min", "mins", "minute", "minutes"], "min", 1.0 / 60.0),
    (&["s", "sec", "second", "seconds"], "s", 1.0 / 3600.0),
    (&["d", "day", "days"], "d", 24.0),
    (&["w", "wk", "week", "weeks"], "week", 168.0),
];

fn lookup(
    table: &'static [(&'static [&'static str], &'static str, f64)],
    kind: &'static str,
    text: &str,
) -> Result<(&'static str, f64)> {
    let t = text.trim();
    table
        .iter()
        .find(|(spellings, _, _)| spellings.contains(&t))
        .or_else(|| {
            table
                .iter()
                .find(|(spellings, _, _)| spellings.iter().any(|s| s.eq_ignore_ascii_case(t)))
        })
        .map(|(_, name, f)| (*name, *f))
        .ok_or_else(|| Error::Unit {
            kind,
            text: text.to_string(),
            expected: table.iter().map(|(_, n, _)| *n).collect::<Vec<_>>().join(", "),
        })
}

impl AmountUnit {
    /// Parses `g`, `mg`, `ug` (also `µg`, `mcg`), `ng`, `pg`.
    pub fn parse(text: &str) -> Result<Self> {
        lookup(AMOUNTS, "amount", text).map(|(name, e)| AmountUnit {
            name,
            exponent: e as i32,
        })
    }
    /// Milligrams, the default.
    pub fn mg() -> Self {
        AmountUnit {
            name: "mg",
            exponent: -3,
        }
    }
    /// Grams per one of this unit.
    pub fn grams(&self) -> f64 {
        pow10(self.exponent)
    }
    /// Factor converting an amount in `self` to an amount in `other` (exact).
    pub fn to(&self, other: &AmountUnit) -> f64 {
        pow10(self.exponent - other.exponent)
    }
}

impl fmt::Display for AmountUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A volume unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeUnit {
    name: &'static str,
    /// Litres per unit as a power of ten.
    exponent: i32,
}

impl VolumeUnit {
    /// Parses `L`, `dL`, `mL`, `uL`.
    pub fn parse(text: &str) -> Result<Self> {
        lookup(VOLUMES, "volume", text).map(|(name, e)| VolumeUnit {
            name,
            exponent: e as i32,
        })
    }
    /// Litres, the default.
    pub fn litre() -> Self {
        VolumeUnit { name: "L", exponent: 0 }
    }
    /// Litres per one of this unit.
    pub fn litres(&self) -> f64 {
        pow10(self.exponent)
    }
}

impl fmt::Display for VolumeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A time unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeUnit {
    name: &'static str,
    hours: f64,
}

impl TimeUnit {
    /// Parses `h`, `min`, `s`, `d`, `week` and common spellings.
    pub fn parse(text: &str) -> Result<Self> {
        lookup(TIMES, "time", text).map(|(name, hours)| TimeUnit { name, hours })
    }
    /// Hours, the default.
    pub fn hour() -> Self {
        TimeUnit { name: "h", hours: 1.0 }
    }
    /// Factor converting a duration in `self` to a duration in `other`.
    pub fn to(&self, other: &TimeUnit) -> f64 {
        self.hours / other.hours
    }
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A mass concentration unit, written `mass/volume` (e.g. `ng/mL`, `ug/L`, `mg/L`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcentrationUnit {
    mass: AmountUnit,
    volume: VolumeUnit,
}

impl ConcentrationUnit {
    /// Parses `mass/volume`, e.g. `ng/mL`, `µg/L`, `mg/dL`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::Unit {
            kind: "concentration",
            text: text.to_string(),
            expected: "mass/volume such as ng/mL, ug/L, ug/mL, mg/L".to_string(),
        };
        let (m, v) = text.trim().split_once('/').ok_or_else(bad)?;
        let mass = AmountUnit::parse(m).map_err(|_| bad())?;
        let volume = VolumeUnit::parse(v).map_err(|_| bad())?;
        Ok(ConcentrationUnit { mass, volume })
    }
    /// ng/mL, the default.
    pub fn ng_per_ml() -> Self {
        ConcentrationUnit {
            mass: AmountUnit {
                name: "ng",
                exponent: -9,
            },
            volume: VolumeUnit {
                name: "mL",
                exponent: -3,
            },
        }
    }
    /// Grams per litre in one of this unit.
    pub fn grams_per_litre(&self) -> f64 {
        pow10(self.exponent())
    }
    fn exponent(&self) -> i32 {
        self.mass.exponent - self.volume.exponent
    }
}

impl fmt::Display for ConcentrationUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.mass, self.volume)
    }
}

/// The units a model works in, and the reported concentration unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    /// Unit of doses and compartment amounts.
    pub amount: AmountUnit,
    /// Unit of volumes (clearances are volume/time).
    pub volume: VolumeUnit,
    /// Unit of time.
    pub time: TimeUnit,
    /// Unit of reported concentrations.
    pub concentration: ConcentrationUnit,
}

impl Default for Units {
    fn default() -> Self {
        Units {
            amount: AmountUnit::mg(),
            volume: VolumeUnit::litre(),
            time: TimeUnit::hour(),
            concentration: ConcentrationUnit::ng_per_ml(),
        }
    }
}

impl Units {
    /// Factor from amount/volume (model units) to the reported concentration unit:
    /// mg and L with ng/mL give 1000.
    pub fn concentration_scale(&self) -> f64 {
        pow10(self.amount.exponent - self.volume.exponent - self.concentration.exponent())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mg_per_litre_is_1000_ng_per_ml() {
        assert_eq!(Units::default().concentration_scale(), 1000.0);
    }

    #[test]
    fn ug_per_litre_scale_from_ug_and_l_is_one() {
        let u = Units {
            amount: AmountUnit::parse("µg").unwrap(),
            concentration: ConcentrationUnit::parse("ug/L").unwrap(),
            ..Units::default()
        };
        assert_eq!(u.concentration_scale(), 1.0);
    }

    #[test]
    fn unknown_unit_is_named() {
        let e = ConcentrationUnit::parse("ng/furlong").unwrap_err().to_string();
        assert!(e.contains("ng/furlong") && e.contains("ng/mL"), "{e}");
        let e = TimeUnit::parse("fortnight").unwrap_err().to_string();
        assert!(e.contains("unknown time unit 'fortnight'"), "{e}");
    }

    #[test]
    fn minutes_to_hours() {
        let m = TimeUnit::parse("min").unwrap();
        assert!((m.to(&TimeUnit::hour()) - 1.0 / 60.0).abs() < 1e-15);
    }
}
