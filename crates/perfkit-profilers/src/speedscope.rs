//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>), which
//! speedscope and the Firefox Profiler open: one sampled profile written from folded stacks.

use serde::Serialize;

use crate::FoldedStacks;

/// The schema a speedscope file names.
pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// The unit of a profile's weights, in speedscope's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Plain counts (samples, events).
    None,
    /// Nanoseconds.
    Nanoseconds,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: [Profile<'a>; 1],
    name: &'a str,
    active_profile_index: u32,
    exporter: String,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<Frame<'a>>,
}

#[derive(Serialize)]
struct Frame<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    unit: Unit,
    start_value: u64,
    end_value: u64,
    samples: Vec<Vec<usize>>,
    weights: Vec<u64>,
}

/// `stacks` as a speedscope file named `name`, whose weights count `unit`. Each folded stack is
/// one sample, its frames from the outermost in, weighted by its count. speedscope reads
/// weights as JavaScript numbers, exact up to 2^53.
#[must_use]
pub fn to_speedscope(stacks: &FoldedStacks, name: &str, unit: Unit) -> String {
    let mut frames: Vec<Frame<'_>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut samples = Vec::with_capacity(stacks.len());
    let mut weights = Vec::with_capacity(stacks.len());
    for (stack, count) in stacks.iter() {
        let sample = (stack.split(';'))
            .map(|frame| {
                *index.entry(frame).or_insert_with(|| {
                    frames.push(Frame { name: frame });
                    frames.len() - 1
                })
            })
            .collect();
        samples.push(sample);
        weights.push(count);
    }
    let file = File {
        schema: SCHEMA,
        shared: Shared { frames },
        profiles: [Profile {
            kind: "sampled",
            name,
            unit,
            start_value: 0,
            end_value: stacks.total(),
            samples,
            weights,
        }],
        name,
        active_profile_index: 0,
        exporter: format!("perfkit {}", env!("CARGO_PKG_VERSION")),
    };
    // Plain structs with string keys always serialise.
    serde_json::to_string(&file).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_shared_and_samples_run_from_the_root() {
        let stacks = FoldedStacks::parse("main;work;hash 3\nmain;io 2\n").unwrap();
        let text = to_speedscope(&stacks, "app", Unit::None);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["$schema"], SCHEMA);
        let frames: Vec<&str> = (v["shared"]["frames"].as_array().unwrap().iter())
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let profile = &v["profiles"][0];
        assert_eq!(profile["type"], "sampled");
        assert_eq!(profile["unit"], "none");
        assert_eq!(profile["endValue"], 5);
        let stacks: Vec<(String, u64)> = (profile["samples"].as_array().unwrap().iter())
            .zip(profile["weights"].as_array().unwrap())
            .map(|(s, w)| {
                let names: Vec<&str> = (s.as_array().unwrap().iter())
                    .map(|i| frames[usize::try_from(i.as_u64().unwrap()).unwrap()])
                    .collect();
                (names.join(";"), w.as_u64().unwrap())
            })
            .collect();
        assert_eq!(
            stacks,
            [("main;io".to_owned(), 2), ("main;work;hash".to_owned(), 3)]
        );
        assert_eq!(frames.len(), 4, "{frames:?}");
    }
}
