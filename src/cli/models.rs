//! `pk models`: the bundled models, usable by name wherever a model is taken.

use clap::Args;
use pk::lang::Dynamics;
use pk::model::Model;
use pk::Result;

/// Arguments of `pk models` (none).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples (from the repository root):\n  pk models\n  pk fit fixtures/clofarabine/clofarabine_phase2.csv --model two_cmt_iv"
)]
pub struct ModelsArgs {}

/// Prints one line per bundled model: name, structure, parameters, outputs.
pub fn run(_args: ModelsArgs) -> Result<()> {
    let mut text = format!(
        "{:<16} {:<26} {:>3} {:>3} {:>3}  {}\n",
        "name", "structure", "θ", "η", "σ", "outputs"
    );
    for name in Model::bundled_names() {
        let m = Model::load(name)?;
        let c = &m.code;
        let structure = match (c.dynamics, &c.linear) {
            (Dynamics::Kernel(k), _) => format!("kernel {}", k.name()),
            (Dynamics::Ode, Some(l)) => format!("ODEs ({} as {})", c.states.len(), l.kernel.name()),
            (Dynamics::Ode, None) if c.states.len() == 1 => "ODEs (1 state)".to_string(),
            (Dynamics::Ode, None) => format!("ODEs ({} states)", c.states.len()),
        };
        let outputs: Vec<&str> = c.outputs.iter().map(|o| o.name.as_str()).collect();
        text.push_str(&format!(
            "{:<16} {:<26} {:>3} {:>3} {:>3}  {}\n",
            name,
            structure,
            c.thetas.len(),
            c.omega.names.len(),
            c.sigmas.len(),
            outputs.join(", ")
        ));
    }
    text.push_str("\nEach is a file in models/ of the source (docs/model_language.md describes the language).\n");
    super::output::write_text(None, &text, &[])
}
