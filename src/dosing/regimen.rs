//! Dosing regimens written as text, e.g. `52 mg/m2 over 2 h every 24 h x 5`.
//!
//! Grammar (words are case-insensitive; several doses are joined by `;` or `then`):
//! `AMOUNT UNIT[/m2|/kg] [iv|oral|po|bolus] [over D UNIT] [every II UNIT] [x N] [at T UNIT]`.
//! Amounts per m² need a body-surface area, per kg a weight.

use super::dose::{Dose, Input, SteadyState};
use crate::error::{Error, Result};
use crate::units::{AmountUnit, TimeUnit};

/// What a regimen's amount is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerSize {
    /// A flat amount.
    Flat,
    /// Per m² of body-surface area.
    PerM2,
    /// Per kg of body weight.
    PerKg,
}

/// Route named in a regimen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Not named: the model's default dose compartment.
    Default,
    /// Intravenous: the central compartment.
    Iv,
    /// Oral / extravascular: the depot.
    Oral,
}

/// One line of a regimen, before scaling by body size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegimenItem {
    /// Amount per dose, in `amount_unit` (per m² or per kg when `per` says so).
    pub amount: f64,
    /// Unit of the amount.
    pub amount_unit: AmountUnit,
    /// Flat, per m² or per kg.
    pub per: PerSize,
    /// Route.
    pub route: Route,
    /// Infusion duration in hours (0 = bolus).
    pub duration_h: f64,
    /// Interval between doses in hours (0 = single dose).
    pub interval_h: f64,
    /// Number of doses.
    pub count: u32,
    /// Time of the first dose in hours.
    pub start_h: f64,
}

/// A parsed regimen.
#[derive(Debug, Clone, PartialEq)]
pub struct Regimen {
    /// The text it was parsed from.
    pub text: String,
    /// Its doses.
    pub items: Vec<RegimenItem>,
}

/// Body size used to scale per-m² and per-kg doses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BodySize {
    /// Body-surface area, m².
    pub bsa: Option<f64>,
    /// Weight, kg.
    pub weight: Option<f64>,
}

impl Regimen {
    /// Parses a regimen text.
    pub fn parse(text: &str) -> Result<Self> {
        let err = |message: String| Error::Regimen {
            text: text.to_string(),
            message,
        };
        let normalised = text.replace("then", ";").replace("THEN", ";");
        let mut items = Vec::new();
        for part in normalised.split(';') {
            if part.trim().is_empty() {
                continue;
            }
            items.push(parse_item(part).map_err(err)?);
        }
        if items.is_empty() {
            return Err(err(
                "no dose given; expected e.g. '52 mg/m2 over 2 h every 24 h x 5'".into()
            ));
        }
        Ok(Regimen {
            text: text.to_string(),
            items,
        })
    }

    /// The doses in model units, scaled by body size.
    /// `depot` and `central` are the state indices of the routes.
    pub fn doses(
        &self,
        size: &BodySize,
        model_amount: &AmountUnit,
        model_time: &TimeUnit,
        default_target: usize,
        central: usize,
        depot: Option<usize>,
    ) -> Result<Vec<Dose>> {
        let hour = TimeUnit::hour();
        let to_time = hour.to(model_time);
        let err = |message: String| Error::Regimen {
            text: self.text.clone(),
            message,
        };
        let mut doses = Vec::new();
        for it in &self.items {
            let factor = match it.per {
                PerSize::Flat => 1.0,
                PerSize::PerM2 => size.bsa.ok_or_else(|| {
                    err("a dose per m² needs a body-surface area: give --bsa, or --weight and --height".into())
                })?,
                PerSize::PerKg => size
                    .weight
                    .ok_or_else(|| err("a dose per kg needs a body weight: give --weight".into()))?,
            };
            let amount = it.amount * factor * it.amount_unit.to(model_amount);
            let target = match it.route {
                Route::Default => default_target,
                Route::Iv => central,
                Route::Oral => {
                    depot.ok_or_else(|| err("an oral dose needs a model with first-order absorption".into()))?
                }
            };
            let input = if it.duration_h > 0.0 {
                let duration = it.duration_h * to_time;
                Input::Infusion {
                    rate: amount / duration,
                    duration,
                }
            } else {
                Input::Bolus
            };
            doses.push(Dose {
                time: it.start_h * to_time,
                target,
                amount,
                input,
                lag: 0.0,
                steady_state: SteadyState::No,
                interval: it.interval_h * to_time,
                additional: it.count.saturating_sub(1),
            });
        }
        Ok(doses)
    }

    /// Time of the last dose's end, in hours (useful to choose a grid).
    pub fn last_dose_hours(&self) -> f64 {
        self.items
            .iter()
            .map(|i| i.start_h + i.interval_h * f64::from(i.count.saturating_sub(1)) + i.duration_h)
            .fold(0.0, f64::max)
    }
}

/// Splits `52mg/m2` into `52` and `mg/m2`, and `x5` into `x` and `5`.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let w = word.replace('×', "x").replace('²', "2");
        let lower = w.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix('x') {
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
                out.push("x".into());
                out.push(rest.into());
                continue;
            }
        }
        let split = w.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '-'));
        match split {
            Some(i) if i > 0 && w[..i].parse::<f64>().is_ok() => {
                out.push(w[..i].to_string());
                out.push(w[i..].to_string());
            }
            _ => out.push(w),
        }
    }
    out
}

fn parse_item(text: &str) -> std::result::Result<RegimenItem, String> {
    let toks = tokens(text);
    let mut i = 0;
    let number = |i: &mut usize, what: &str| -> std::result::Result<f64, String> {
        let t = toks.get(*i).ok_or(format!("expected {what} at the end"))?;
        *i += 1;
        t.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or(format!("expected {what}, found '{t}'"))
    };
    let time = |i: &mut usize, what: &str| -> std::result::Result<f64, String> {
        let v = number(i, what)?;
        let u = toks.get(*i).ok_or(format!("expected a time unit after {v}"))?;
        *i += 1;
        let unit = TimeUnit::parse(u).map_err(|e| e.to_string())?;
        Ok(v * unit.to(&TimeUnit::hour()))
    };
    let amount = number(&mut i, "a dose amount")?;
    if amount < 0.0 {
        return Err(format!("a dose amount must not be negative, found {amount}"));
    }
    let unit_text = toks
        .get(i)
        .ok_or("expected an amount unit such as mg, mg/m2 or mg/kg")?
        .clone();
    i += 1;
    let (unit_part, per) = match unit_text.split_once('/') {
        None => (unit_text.as_str(), PerSize::Flat),
        Some((u, p)) => match p.to_ascii_lowercase().as_str() {
            "m2" | "m^2" => (u, PerSize::PerM2),
            "kg" => (u, PerSize::PerKg),
            _ => {
                return Err(format!(
                    "unknown dose unit '{unit_text}': expected mg, mg/m2 or mg/kg (or another mass unit)"
                ))
            }
        },
    };
    let amount_unit = AmountUnit::parse(unit_part).map_err(|e| e.to_string())?;
    let mut item = RegimenItem {
        amount,
        amount_unit,
        per,
        route: Route::Default,
        duration_h: 0.0,
        interval_h: 0.0,
        count: 1,
        start_h: 0.0,
    };
    let mut count_given = false;
    while i < toks.len() {
        let word = toks[i].to_ascii_lowercase();
        i += 1;
        match word.as_str() {
            "iv" | "i.v." | "intravenous" | "bolus" | "infusion" => item.route = Route::Iv,
            "oral" | "po" | "p.o." | "sc" | "im" | "extravascular" => item.route = Route::Oral,
            "over" => {
                item.duration_h = time(&mut i, "an infusion duration")?;
                if item.duration_h <= 0.0 {
                    return Err("an infusion ('over') needs a duration > 0".into());
                }
            }
            "every" | "q" => {
                item.interval_h = time(&mut i, "a dosing interval")?;
                if item.interval_h <= 0.0 {
                    return Err("the dosing interval ('every') must be > 0".into());
                }
            }
            "x" | "times" | "for" => {
                let n = number(&mut i, "a number of doses")?;
                if n < 1.0 || n.fract() != 0.0 || n > 1e6 {
                    return Err(format!("the number of doses must be a whole number >= 1, found {n}"));
                }
                item.count = n as u32;
                count_given = true;
                if toks
                    .get(i)
                    .is_some_and(|t| t.eq_ignore_ascii_case("doses") || t.eq_ignore_ascii_case("dose"))
                {
                    i += 1;
                }
            }
            "at" | "starting" | "from" => {
                if toks.get(i).is_some_and(|t| t.eq_ignore_ascii_case("at")) {
                    i += 1;
                }
                item.start_h = time(&mut i, "a start time")?;
            }
            "daily" | "qd" | "od" => item.interval_h = 24.0,
            "bid" => item.interval_h = 12.0,
            _ => {
                return Err(format!(
                    "unexpected word '{}': expected over, every, x, at, iv or oral",
                    toks[i - 1]
                ))
            }
        }
    }
    if count_given && item.count > 1 && item.interval_h <= 0.0 {
        return Err(format!("{} doses need an interval ('every 24 h')", item.count));
    }
    if !count_given && item.interval_h > 0.0 {
        return Err("'every' needs a number of doses ('x 5')".into());
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clofarabine_regimen() {
        let r = Regimen::parse("52 mg/m2 over 2 h every 24 h x 5").unwrap();
        let it = r.items[0];
        assert_eq!(
            (it.amount, it.per, it.duration_h, it.interval_h, it.count),
            (52.0, PerSize::PerM2, 2.0, 24.0, 5)
        );
        let size = BodySize {
            bsa: Some(1.2),
            weight: None,
        };
        let doses = r
            .doses(&size, &AmountUnit::mg(), &TimeUnit::hour(), 1, 1, None)
            .unwrap();
        assert!((doses[0].amount - 62.4).abs() < 1e-12);
        assert_eq!(doses[0].additional, 4);
        assert_eq!(
            doses[0].input,
            Input::Infusion {
                rate: 62.4 / 2.0,
                duration: 2.0
            }
        );
    }

    #[test]
    fn compact_forms_and_minutes() {
        let r = Regimen::parse("100mg over 30 min every 12 h x4 at 6 h; 50 mg iv at 72 h").unwrap();
        assert_eq!(r.items.len(), 2);
        assert!((r.items[0].duration_h - 0.5).abs() < 1e-15);
        assert_eq!((r.items[0].count, r.items[0].start_h), (4, 6.0));
        assert_eq!((r.items[1].route, r.items[1].start_h), (Route::Iv, 72.0));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Regimen::parse("52 mg/m2 over 2 fortnights").unwrap_err().to_string();
        assert!(e.contains("fortnights"), "{e}");
        let e = Regimen::parse("52 furlongs").unwrap_err().to_string();
        assert!(e.contains("furlongs"), "{e}");
        let r = Regimen::parse("52 mg/m2").unwrap();
        let e = r
            .doses(&BodySize::default(), &AmountUnit::mg(), &TimeUnit::hour(), 1, 1, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--bsa"), "{e}");
        assert!(Regimen::parse("100 mg every 12 h").is_err());
        assert!(Regimen::parse("-5 mg").is_err());
    }
}
