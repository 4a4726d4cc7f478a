//! The profile formats other viewers read, chosen by name or by a file's extension: pprof
//! (`go tool pprof`, Pyroscope, Parca), speedscope (speedscope, the Firefox Profiler) and
//! folded stacks (inferno, `flamegraph.pl`).

use std::path::{Path, PathBuf};

use perfkit_sys::OutputPath;
use serde::Serialize;

use crate::load::input_name;
use crate::perf::{FoldOptions, PerfFold};
use crate::{ProfilerError, load_profile, pprof, speedscope};

/// A profile to convert, with its destination checked before anything is read.
#[derive(Debug)]
pub struct Conversion {
    input: PathBuf,
    out: OutputPath,
    format: Format,
}

impl Conversion {
    /// The conversion of the profile at `input` (`-`: standard input) to `output`, which must
    /// be writable and not the input.
    ///
    /// # Errors
    /// `output` cannot be written or is the input.
    pub fn new(input: &Path, output: &Path, format: Format) -> Result<Conversion, ProfilerError> {
        let (out, []) = perfkit_sys::check_named_outputs(output, [], &[input])?;
        Ok(Conversion {
            input: input.to_path_buf(),
            out,
            format,
        })
    }

    /// Reads and folds the input as [`load_profile`] does and writes it in the format.
    ///
    /// # Errors
    /// As [`load_profile`] and [`Format::render`], and [`ProfilerError::Output`] when the file
    /// cannot be written.
    pub fn run(&self, fold: &FoldOptions) -> Result<Converted<'_>, ProfilerError> {
        let profile = load_profile(&self.input, fold, &mut None)?;
        let bytes = self.format.render(&profile, &input_name(&self.input))?;
        self.out.write(&bytes).map_err(ProfilerError::Output)?;
        Ok(Converted {
            input: &self.input,
            output: self.out.path(),
            format: self.format.name(),
            count_name: profile.count_name(),
            total: profile.stacks.total(),
            distinct_stacks: profile.stacks.len(),
            event: (!profile.event.is_empty()).then_some(profile.event),
        })
    }
}

/// What a [`Conversion`] wrote, for people (`to_text`) and programs (serialised).
#[derive(Debug, Serialize)]
pub struct Converted<'a> {
    /// The profile read (`-`: standard input).
    pub input: &'a Path,
    /// The file written.
    pub output: &'a Path,
    /// Its format.
    pub format: &'static str,
    /// The event the profile counts, when it says.
    pub event: Option<String>,
    /// What one count is: `samples`, `ns` or `events`.
    pub count_name: &'static str,
    /// The counts summed.
    pub total: u64,
    /// Distinct stacks, each a sample in the file written.
    pub distinct_stacks: usize,
}

impl Converted<'_> {
    /// A line on what was written.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}: {} profile of {} {} in {} distinct stacks\n",
            self.output.display(),
            self.format,
            self.total,
            self.count_name,
            self.distinct_stacks
        )
    }
}

/// A profile format perfkit writes besides its SVG flamegraphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// pprof's gzipped `profile.proto`.
    Pprof,
    /// speedscope's JSON file format.
    Speedscope,
    /// Folded stacks, a line per stack: `main;work;hash 42`.
    Folded,
}

impl Format {
    /// The format a file's name says: `.pb.gz`, `.pprof` or `.pb` for pprof, `.json` for
    /// speedscope, `.folded`, `.collapsed` or `.txt` for folded stacks.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&[".pb.gz", ".pprof", ".pb"]) {
            Some(Format::Pprof)
        } else if ends(&[".json"]) {
            Some(Format::Speedscope)
        } else if ends(&[".folded", ".collapsed", ".txt"]) {
            Some(Format::Folded)
        } else {
            None
        }
    }

    /// The format's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::Pprof => "pprof",
            Format::Speedscope => "speedscope",
            Format::Folded => "folded",
        }
    }

    /// `profile` in this format; `name` titles it where the format has a title.
    ///
    /// # Errors
    /// [`ProfilerError::TooLarge`] for pprof when the counts overflow its numbers.
    pub fn render(self, profile: &PerfFold, name: &str) -> Result<Vec<u8>, ProfilerError> {
        Ok(match self {
            Format::Pprof => {
                let mut description = pprof::Description::of_fold(profile);
                description.comments.push(format!("profile: {name}"));
                pprof::encode_gzipped(&profile.stacks, &description)?
            }
            Format::Speedscope => {
                let unit = if profile.counts_nanoseconds() {
                    speedscope::Unit::Nanoseconds
                } else {
                    speedscope::Unit::None
                };
                speedscope::to_speedscope(&profile.stacks, name, unit).into_bytes()
            }
            Format::Folded => profile.stacks.to_text().into_bytes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension() {
        let of = |p: &str| Format::from_path(Path::new(p));
        assert_eq!(of("cpu.pb.gz"), Some(Format::Pprof));
        assert_eq!(of("x/CPU.PPROF"), Some(Format::Pprof));
        assert_eq!(of("app.speedscope.json"), Some(Format::Speedscope));
        assert_eq!(of("out.folded"), Some(Format::Folded));
        assert_eq!(of("flame.svg"), None);
        assert_eq!(of("noext"), None);
    }
}
