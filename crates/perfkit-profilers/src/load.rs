//! Reading a profile a user names, whatever it is: perf.data, perf script output or folded
//! stacks, from a file or standard input, told apart by their first bytes.

use crate::Empty;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use perfkit_sys::LineLimit;

use crate::{
    FoldOptions, FoldedStacks, PerfFold, ProfilerError, Tool, ToolInfo, fold_perf_data,
    fold_perf_script, is_perf_script_header,
};

/// The longest line of profile text read: a stack of a million long C++ frames fits, while
/// `/dev/zero` or a binary file given by mistake is an error instead of filling memory.
const MAX_LINE: u64 = 256 << 20;

/// What a profile input turned out to be.
enum Input {
    /// A perf.data file on disk (with the temporary file that holds it, for stdin).
    PerfData(PathBuf, Option<tempfile::TempPath>),
    /// Text (folded stacks or perf script output), streamed.
    Text(Box<dyn BufRead>),
}

/// Opens `path` (`-` is standard input) and tells its kind from its first bytes. perf.data
/// piped on standard input is spooled to a temporary file, since perf script needs a
/// seekable one.
fn open_input(path: &Path) -> Result<Input, ProfilerError> {
    let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(
            1 << 20,
            LineLimit::new(std::io::stdin(), MAX_LINE),
        ))
    } else {
        if path.is_dir() {
            return Err(ProfilerError::InputIsDirectory {
                path: path.to_path_buf(),
            });
        }
        let file = std::fs::File::open(path).map_err(|source| ProfilerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Box::new(BufReader::with_capacity(
            1 << 20,
            LineLimit::new(file, MAX_LINE),
        ))
    };
    let head = reader
        .fill_buf()
        .map_err(|e| ProfilerError::io("cannot read the input", e))?;
    if head.starts_with(b"PERFILE2") || head.starts_with(b"PERFFILE") {
        if path.as_os_str() != "-" {
            return Ok(Input::PerfData(path.to_owned(), None));
        }
        let spool_error = |e| ProfilerError::io("cannot spool perf.data from standard input", e);
        let mut spool = tempfile::Builder::new()
            .prefix("perfkit-stdin-")
            .suffix(".perf.data")
            .tempfile()
            .map_err(spool_error)?;
        std::io::copy(&mut reader, spool.as_file_mut()).map_err(spool_error)?;
        let spooled = spool.into_temp_path();
        return Ok(Input::PerfData(spooled.to_path_buf(), Some(spooled)));
    }
    // A pprof profile, or compressed text: both start as gzip does.
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(ProfilerError::Compressed {
            what: input_name(path),
        });
    }
    Ok(Input::Text(reader))
}

/// Reads the two sides of a comparison with [`load_profile`], locating perf once for both.
/// `reading` is told each side's name (`BEFORE`, `AFTER`) as it starts; an error names the
/// side and its path.
///
/// # Errors
/// As [`load_profile`], inside [`ProfilerError::Side`].
pub fn load_pair(
    before: &Path,
    after: &Path,
    fold: &FoldOptions,
    reading: &mut dyn FnMut(&'static str),
) -> Result<(PerfFold, PerfFold), ProfilerError> {
    let mut perf = None;
    let mut load = |side: &'static str, path: &Path| {
        reading(side);
        load_profile(path, fold, &mut perf).map_err(|e| ProfilerError::Side {
            side,
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    };
    Ok((load("BEFORE", before)?, load("AFTER", after)?))
}

/// How messages and files name the input at `path`: `-` is standard input.
#[must_use]
pub fn input_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads and folds the profile at `path` (`-` is standard input): perf.data through `perf
/// script` (located once into `perf` and reused), perf script text through the folder, folded
/// stacks as they are. Folded stacks come back counted in samples, since the file does not
/// say what its counts are.
///
/// # Errors
/// The input cannot be opened or read, is not a profile, or holds no samples; perf is needed
/// for perf.data and missing.
pub fn load_profile(
    path: &Path,
    fold: &FoldOptions,
    perf: &mut Option<ToolInfo>,
) -> Result<PerfFold, ProfilerError> {
    let describe = || input_name(path);
    match open_input(path)? {
        Input::PerfData(data, _spool) => {
            let tool = match perf {
                Some(tool) => tool,
                None => perf.insert(Tool::Perf.locate()?),
            };
            fold_perf_data(tool, &data, fold)
        }
        Input::Text(mut reader) => {
            // The first line that carries data tells folded from perf script text; it is read
            // as bytes, since perf script headers need not be UTF-8.
            let mut prefix = Vec::new();
            let first = loop {
                let start = prefix.len();
                let n = reader
                    .read_until(b'\n', &mut prefix)
                    .map_err(|e| ProfilerError::io(format!("cannot read {}", describe()), e))?;
                let line = &prefix[start..];
                if n == 0 || !(line.trim_ascii().is_empty() || line.starts_with(b"#")) {
                    break start;
                }
            };
            let folded_line = !is_perf_script_header(&prefix[first..]);
            let chained = std::io::Cursor::new(prefix).chain(reader);
            let folded = if folded_line {
                FoldedStacks::from_reader(chained).map(|stacks| PerfFold {
                    stacks,
                    ..PerfFold::default()
                })
            } else {
                fold_perf_script(chained, fold)
            }
            .map_err(|e| ProfilerError::NotAProfile {
                what: describe(),
                source: Box::new(e),
            })?;
            if folded.stacks.is_empty() {
                return Err(ProfilerError::NoSamples(Empty::Input(describe())));
            }
            Ok(folded)
        }
    }
}
