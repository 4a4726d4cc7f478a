//! `perfkit copy`: a [`perfkit_zerocopy::CopyJob`] between the two named ends, and its report.

use anyhow::Result;
use perfkit_zerocopy::{CopyJob, CopyReport};

use crate::cli::CopyArgs;
use crate::exit::Exit;

pub(crate) fn run(args: &CopyArgs) -> Result<Exit> {
    let options = args.transfer_options();
    let job = CopyJob::open(&args.src, &args.dst)?;
    // Standard output gets the data: the report goes to standard error, as for any output
    // that is standard output.
    if job.writes_stdout() {
        perfkit_sys::stdout::hand_over();
    }
    let report = job.run(&options)?;
    crate::document::print(args.json, None, &report, CopyReport::to_text)?;
    Ok(Exit::Success)
}
