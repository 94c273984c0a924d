//! `pk translate`: a NONMEM control stream in the model language.

use super::output::write_text;
use clap::Args;
use pk::nonmem::dataset::read_dataset;
use pk::nonmem::lower::lower;
use pk::nonmem::ControlStream;
use pk::Result;

/// Arguments of `pk translate`.
#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// NONMEM control stream (.ctl, .mod).
    control_stream: String,
    /// Write the model to this file instead of standard output.
    #[arg(long, short)]
    output: Option<String>,
    /// Do not read the data file (observation compartments are then assumed
    /// to be the default one).
    #[arg(long)]
    no_data: bool,
}

/// Runs `pk translate`.
pub fn run(args: TranslateArgs) -> Result<()> {
    let cs = ControlStream::read(&args.control_stream)?;
    let data = if args.no_data {
        None
    } else {
        match read_dataset(&cs) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("note: the data file cannot be read ({e}); the default observation compartment is assumed");
                None
            }
        }
    };
    let lowered = lower(&cs, data.as_ref())?;
    // The text must compile: a failure here is the importer's, not the user's.
    pk::model::Model::from_text(&lowered.text, &format!("{} (lowered)", args.control_stream))?;
    write_text(args.output.as_deref(), &lowered.text, &[args.control_stream.as_str()])
}
