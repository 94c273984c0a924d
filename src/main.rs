//! The `pk` command-line tool.

// `!(x > 0.0)` is used on purpose: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod cli;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: cli::memory::ReportingAllocator = cli::memory::ReportingAllocator;

fn main() {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
