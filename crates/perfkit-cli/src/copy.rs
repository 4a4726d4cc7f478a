//! `perfkit copy`: a copy through `perfkit_zerocopy::transfer_with`, into a temporary file
//! renamed over the destination only when complete.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use perfkit_sys::OutputWriter;
use perfkit_zerocopy::{CopyReport, PipeSize, TransferOptions, copy_destination, transfer_with};

use crate::cli::{CopyArgs, MethodArg};
use crate::exit::Exit;

/// Where the bytes go.
enum Destination {
    /// Standard output (`-`).
    Stdout(std::io::Stdout),
    /// A file, device, FIFO or socket ([`perfkit_sys::OutputPath`]): a regular file is a
    /// temporary file beside it, renamed over it when complete.
    Output(OutputWriter),
}

impl Destination {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Destination::Stdout(stdout) => stdout.as_fd(),
            Destination::Output(writer) => writer.as_fd(),
        }
    }
}

pub(crate) fn run(args: &CopyArgs) -> Result<Exit> {
    let options = TransferOptions {
        method: match args.method {
            MethodArg::Auto => None,
            MethodArg::Forced(method) => Some(method),
        },
        pipe_size: args.pipe_size.map_or(PipeSize::Auto, PipeSize::Bytes),
    };
    let from_stdin = args.src.as_os_str() == "-";
    let to_stdout = args.dst.as_os_str() == "-";
    let src_file = if from_stdin {
        None
    } else {
        Some(open_source(&args.src)?)
    };
    let stdin = std::io::stdin();
    let src_fd = match &src_file {
        Some(file) => file.as_fd(),
        None => stdin.as_fd(),
    };
    let dst_path = if to_stdout {
        None
    } else {
        let src = (!from_stdin).then_some(args.src.as_path());
        let Some(path) = copy_destination(src, &args.dst) else {
            bail!(
                "the destination {} is a directory: give a file name to copy standard input to",
                args.dst.display()
            );
        };
        Some(path)
    };
    let destination = match &dst_path {
        None => Destination::Stdout(std::io::stdout()),
        Some(path) => open_destination(path, &args.src, src_file.as_ref())?,
    };
    let shown_src = if from_stdin {
        "standard input".to_string()
    } else {
        args.src.display().to_string()
    };
    let shown_dst = dst_path.as_ref().map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );

    let atomic = matches!(&destination, Destination::Output(w) if w.is_staged());
    let stats = transfer_with(src_fd, destination.fd(), None, &options)
        .map_err(|e| copy_failed(e, &shown_src, &shown_dst, atomic))?;

    if let Destination::Output(writer) = destination {
        writer.commit()?;
    }

    let report = CopyReport::new(shown_src, shown_dst, &stats);
    print_report(args, &report, to_stdout)?;
    Ok(Exit::Success)
}

/// The copy's report, text or JSON; on standard error when standard output got the data.
fn print_report(args: &CopyArgs, report: &CopyReport, to_stdout: bool) -> Result<()> {
    let text = if args.json {
        crate::document::to_json(None, report)?
    } else {
        report.to_text()
    };
    if to_stdout {
        note!("{}", text.trim_end());
    } else {
        crate::output::print(text)?;
    }
    Ok(())
}

fn open_source(path: &Path) -> Result<File> {
    let file = File::open(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the source {}: {}{}",
            path.display(),
            perfkit_sys::os_reason(&e),
            perfkit_sys::open_hint(&e)
        )
    })?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    if meta.is_dir() {
        bail!(
            "the source {} is a directory: perfkit copy copies one file or stream",
            path.display()
        );
    }
    Ok(file)
}

/// Opens the destination, refusing the source itself. A new file gets the source's
/// permission bits without set-user-ID, set-group-ID and sticky, less the umask (as `cp`
/// without `-p`: a copy made by root of someone's set-user-ID program is not a root-owned
/// set-user-ID program); a replaced file keeps its own owner and mode.
fn open_destination(path: &Path, src_path: &Path, src: Option<&File>) -> Result<Destination> {
    // Through `destination`: a copy to /dev/stdout has standard output to itself.
    let out = crate::output::destination(path)?;
    if out.is_same_file(src_path) || (src.is_none() && out.is_same_as_descriptor(0)) {
        bail!(
            "the source and the destination are the same file ({}): choose another destination",
            path.display()
        );
    }
    let mode = src
        .and_then(|f| f.metadata().ok())
        .map(|m| m.permissions().mode() & 0o777);
    Ok(Destination::Output(out.create(mode)?))
}

/// The error of a failed copy; `atomic` when the destination was a temporary file (removed
/// on return, so nothing appears under the destination's name).
fn copy_failed(
    error: perfkit_zerocopy::ZeroCopyError,
    src: &str,
    dst: &str,
    atomic: bool,
) -> anyhow::Error {
    let moved = match &error {
        perfkit_zerocopy::ZeroCopyError::Syscall { moved, .. } => *moved,
        _ => 0,
    };
    let kept = if atomic {
        format!("; nothing was written under {dst}")
    } else {
        String::new()
    };
    if error.is_storage_full() {
        return anyhow::anyhow!(
            "no space left on {dst} after {} of {src}{kept} (free space or choose another destination)",
            perfkit_zerocopy::human_bytes(moved)
        );
    }
    anyhow::Error::new(error).context(format!("copying {src} to {dst} failed{kept}"))
}
