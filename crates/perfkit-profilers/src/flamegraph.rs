//! SVG flamegraphs through inferno, also differential.

use crate::{Empty, Setting};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use inferno::flamegraph::{self, color};
use serde::{Deserialize, Serialize};

use crate::{FoldedStacks, ProfilerError};

/// A flamegraph colour palette, by inferno's name (`rust`, `hot`, `mem`, `io`, `java`, `js`,
/// `perl`, `python`, `red`, `green`, `blue`, `aqua`, `yellow`, `purple`, `orange`, `wakeup`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Palette(String);

impl Palette {
    /// The names inferno knows.
    pub const NAMES: &'static [&'static str] = color::Palette::VARIANTS;

    /// Validates a palette name.
    pub fn parse(name: &str) -> Result<Palette, ProfilerError> {
        color::Palette::from_str(name)
            .map_err(|_| ProfilerError::InvalidSetting(Setting::Palette(name.to_owned())))?;
        Ok(Palette(name.to_owned()))
    }

    /// The palette's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }

    fn to_inferno(&self) -> color::Palette {
        color::Palette::from_str(&self.0).unwrap_or_default()
    }
}

impl Default for Palette {
    /// `rust`: colours Rust's standard library, core and alloc apart from your code.
    fn default() -> Self {
        Palette("rust".to_owned())
    }
}

impl fmt::Display for Palette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to draw a flamegraph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlamegraphOptions {
    /// The title at the top.
    pub title: String,
    /// A second line under the title (for example the command that was profiled).
    pub subtitle: Option<String>,
    /// The colours.
    pub palette: Palette,
    /// Frames narrower than this many pixels are left out (default 0.1).
    pub min_width: f64,
    /// Icicle graph: roots at the top, growing down.
    pub inverted: bool,
    /// Flame chart: x is time (input order), not alphabetical merging. Needs unsorted,
    /// time-ordered input to mean anything.
    pub flame_chart: bool,
    /// Reverse every stack (leaf first): shows who calls the hot functions.
    pub reverse: bool,
    /// What one count is (`samples`, `ns`, `bytes`, ...), shown in tooltips.
    pub count_name: String,
    /// Width of the image in pixels (`None`: inferno's 1200, which scales in the browser).
    pub width: Option<usize>,
}

impl Default for FlamegraphOptions {
    fn default() -> Self {
        FlamegraphOptions {
            title: "Flame Graph".to_owned(),
            subtitle: None,
            palette: Palette::default(),
            min_width: 0.1,
            inverted: false,
            flame_chart: false,
            reverse: false,
            count_name: "samples".to_owned(),
            width: None,
        }
    }
}

impl FlamegraphOptions {
    /// `pixels` as a minimum frame width: finite and not negative.
    ///
    /// # Errors
    /// [`Setting::MinWidth`] otherwise.
    pub fn checked_min_width(pixels: f64) -> Result<f64, ProfilerError> {
        if pixels.is_finite() && pixels >= 0.0 {
            Ok(pixels)
        } else {
            Err(ProfilerError::InvalidSetting(Setting::MinWidth(pixels)))
        }
    }

    fn to_inferno(&self) -> Result<flamegraph::Options<'static>, ProfilerError> {
        Self::checked_min_width(self.min_width)?;
        let mut options = flamegraph::Options::default();
        options.title.clone_from(&self.title);
        options.subtitle.clone_from(&self.subtitle);
        options.colors = self.palette.to_inferno();
        options.min_width = self.min_width;
        options.count_name.clone_from(&self.count_name);
        options.flame_chart = self.flame_chart;
        options.reverse_stack_order = self.reverse;
        options.image_width = self.width;
        // Same input, same colours: makes before/after images comparable.
        options.hash = true;
        if self.inverted {
            options.direction = flamegraph::Direction::Inverted;
        }
        Ok(options)
    }
}

/// Renders `folded` as an SVG flamegraph into `writer`.
///
/// # Errors
/// [`ProfilerError::NoSamples`] for an empty profile; write errors as [`ProfilerError::Io`].
pub fn render_flamegraph<W: Write>(
    folded: &FoldedStacks,
    options: &FlamegraphOptions,
    writer: W,
) -> Result<(), ProfilerError> {
    if folded.is_empty() {
        return Err(ProfilerError::NoSamples(Empty::Profile));
    }
    let lines = folded.lines();
    render_lines(lines.iter().map(String::as_str), options, writer)
}

fn render_lines<'a, W: Write>(
    lines: impl IntoIterator<Item = &'a str>,
    options: &FlamegraphOptions,
    writer: W,
) -> Result<(), ProfilerError> {
    let mut inferno_options = options.to_inferno()?;
    flamegraph::from_lines(&mut inferno_options, lines, writer).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            ProfilerError::Render {
                detail: e.to_string(),
            }
        } else {
            ProfilerError::io("writing the flamegraph", e)
        }
    })
}

/// One stack of a differential profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStack {
    /// The stack (root first, `;`-separated).
    pub stack: String,
    /// Its count before (scaled to the after profile's total when normalised).
    pub before: u64,
    /// Its count after.
    pub after: u64,
}

/// Combines two profiles the way inferno's `diff-folded` does: every stack with its before and
/// after counts. With `normalize`, the before counts are scaled so both profiles have the same
/// total, so a profile that simply ran longer does not look uniformly worse.
#[must_use]
pub fn diff_folded(before: &FoldedStacks, after: &FoldedStacks, normalize: bool) -> Vec<DiffStack> {
    let options = inferno::differential::Options {
        normalize,
        strip_hex: true,
    };
    let before_text = before.to_text();
    let after_text = after.to_text();
    let mut out = Vec::new();
    // Reading from memory and writing to a Vec cannot fail; the inputs are valid folded text.
    if inferno::differential::from_readers(
        options,
        before_text.as_bytes(),
        after_text.as_bytes(),
        &mut out,
    )
    .is_err()
    {
        return Vec::new();
    }
    let mut stacks: Vec<DiffStack> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|line| {
            let (rest, after) = line.rsplit_once(' ')?;
            let (stack, before) = rest.rsplit_once(' ')?;
            Some(DiffStack {
                stack: stack.to_owned(),
                before: before.parse().ok()?,
                after: after.parse().ok()?,
            })
        })
        .collect();
    stacks.sort_by(|a, b| a.stack.cmp(&b.stack));
    stacks
}

/// Renders a differential flamegraph: the shape is the after profile; red frames grew, blue
/// frames shrank, the deeper the colour the bigger the change. `normalize` as in
/// [`diff_folded`].
pub fn render_diff_flamegraph<W: Write>(
    before: &FoldedStacks,
    after: &FoldedStacks,
    normalize: bool,
    options: &FlamegraphOptions,
    writer: W,
) -> Result<(), ProfilerError> {
    if before.is_empty() || after.is_empty() {
        return Err(ProfilerError::NoSamples(Empty::Side {
            before: before.is_empty(),
        }));
    }
    render_diff_stacks(&diff_folded(before, after, normalize), options, writer)
}

/// Renders stacks from [`diff_folded`] as a differential flamegraph (for callers that also
/// use the stacks themselves).
pub fn render_diff_stacks<W: Write>(
    stacks: &[DiffStack],
    options: &FlamegraphOptions,
    writer: W,
) -> Result<(), ProfilerError> {
    if stacks.is_empty() {
        return Err(ProfilerError::NoSamples(Empty::Comparison));
    }
    let lines: Vec<String> = stacks
        .iter()
        .map(|d| format!("{} {} {}", d.stack, d.before, d.after))
        .collect();
    render_lines(lines.iter().map(String::as_str), options, writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(folded: &FoldedStacks, options: &FlamegraphOptions) -> String {
        let mut out = Vec::new();
        render_flamegraph(folded, options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn renders_titles_and_frames() {
        let folded = FoldedStacks::parse("app;main;crunch 90\napp;main;idle 10\n").unwrap();
        let options = FlamegraphOptions {
            title: "My title".into(),
            subtitle: Some("cmd: app".into()),
            count_name: "ns".into(),
            ..FlamegraphOptions::default()
        };
        let text = svg(&folded, &options);
        assert!(text.starts_with("<?xml"));
        assert!(text.contains("My title"));
        assert!(text.contains("cmd: app"));
        assert!(text.contains("crunch (90 ns, 90.00%)"), "{text}");
    }

    #[test]
    fn inverted_and_reversed_render() {
        let folded = FoldedStacks::parse("app;main;crunch 90\n").unwrap();
        for options in [
            FlamegraphOptions {
                inverted: true,
                ..FlamegraphOptions::default()
            },
            FlamegraphOptions {
                reverse: true,
                flame_chart: true,
                palette: Palette::parse("mem").unwrap(),
                ..FlamegraphOptions::default()
            },
        ] {
            assert!(svg(&folded, &options).contains("crunch"));
        }
    }

    #[test]
    fn empty_profiles_and_bad_options_are_errors() {
        let mut out = Vec::new();
        let err = render_flamegraph(
            &FoldedStacks::new(),
            &FlamegraphOptions::default(),
            &mut out,
        );
        assert!(matches!(err, Err(ProfilerError::NoSamples(_))));
        assert!(
            Palette::parse("rainbow")
                .unwrap_err()
                .to_string()
                .contains("rust")
        );
        let folded = FoldedStacks::parse("a 1\n").unwrap();
        let options = FlamegraphOptions {
            min_width: f64::NAN,
            ..FlamegraphOptions::default()
        };
        assert!(render_flamegraph(&folded, &options, &mut out).is_err());
    }

    #[test]
    fn differential_normalises_the_before_profile() {
        let before = FoldedStacks::parse("main;a 50\nmain;b 50\n").unwrap();
        let after = FoldedStacks::parse("main;a 100\nmain;b 300\nmain;c 0\n").unwrap();
        let diff = diff_folded(&before, &after, true);
        assert_eq!(
            diff,
            vec![
                DiffStack {
                    stack: "main;a".into(),
                    before: 200,
                    after: 100
                },
                DiffStack {
                    stack: "main;b".into(),
                    before: 200,
                    after: 300
                },
                DiffStack {
                    stack: "main;c".into(),
                    before: 0,
                    after: 0
                },
            ]
        );
        let raw = diff_folded(&before, &after, false);
        assert_eq!(raw[0].before, 50);
        let mut out = Vec::new();
        render_diff_flamegraph(
            &before,
            &after,
            true,
            &FlamegraphOptions::default(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("main;b") || text.contains(">b ("),
            "{text:.300}"
        );
    }
}
