//! pprof's `profile.proto`, the format `go tool pprof`, Grafana Pyroscope, Parca and Polar
//! Signals read, written from folded stacks and gzipped as those tools expect.
//!
//! Each distinct frame becomes one function and one location (a location per frame, no
//! addresses), and each folded stack one sample whose locations run from the innermost frame
//! out, as the format wants. Folded stacks carry no addresses, files or lines, so neither does
//! the profile; `go tool pprof -top`, `-tree`, `-http` and `-diff_base` need none of them.

use std::collections::HashMap;
use std::io::Write as _;

use crate::perf::{CountUnit, PerfFold};
use crate::{FoldedStacks, ProfilerError};

/// What the numbers of a profile count, in pprof's words: `samples`/`count`,
/// `cpu`/`nanoseconds`, `cycles`/`count`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueType {
    /// What is counted.
    pub kind: String,
    /// Its unit.
    pub unit: String,
}

impl ValueType {
    /// `kind` counted in `unit`.
    #[must_use]
    pub fn new(kind: &str, unit: &str) -> ValueType {
        ValueType {
            kind: kind.to_owned(),
            unit: unit.to_owned(),
        }
    }
}

/// What a profile in pprof's format says besides its stacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// What each sample's value counts.
    pub sample_type: ValueType,
    /// The sampling period, when the profile was sampled at a fixed rate: what it counts and
    /// how much of it one sample stands for (a million nanoseconds at 1,000 Hz).
    pub period: Option<(ValueType, i64)>,
    /// When the profile started, in nanoseconds since the Unix epoch; 0 when unknown.
    pub time_nanos: i64,
    /// How long it covers, in nanoseconds; 0 when unknown.
    pub duration_nanos: i64,
    /// Lines of free text pprof shows with the profile (what was profiled, with what).
    pub comments: Vec<String>,
}

impl Description {
    /// A profile whose values count `sample_type`, with nothing else known.
    #[must_use]
    pub fn of(sample_type: ValueType) -> Description {
        Description {
            sample_type,
            period: None,
            time_nanos: 0,
            duration_nanos: 0,
            comments: Vec::new(),
        }
    }

    /// What a folded perf profile counts: samples, or with periods the nanoseconds of a clock
    /// event or the events of a counter. The event is named in a comment.
    #[must_use]
    pub fn of_fold(fold: &PerfFold) -> Description {
        let sample_type = match fold.unit {
            CountUnit::Samples => ValueType::new("samples", "count"),
            CountUnit::Period if fold.counts_nanoseconds() => ValueType::new("cpu", "nanoseconds"),
            CountUnit::Period => ValueType::new(fold.event_kind(), "count"),
        };
        let mut description = Description::of(sample_type);
        if !fold.event.is_empty() {
            description.comments.push(format!("event: {}", fold.event));
        }
        description
    }
}

/// The most pprof's values, `int64`s that readers add up, hold.
pub(crate) const MAX_TOTAL: u64 = i64::MAX as u64;

/// `stacks` as an uncompressed `profile.proto` message.
///
/// # Errors
/// [`ProfilerError::TooLarge`] when the counts add up to more than pprof's `int64` values
/// hold.
pub fn encode(stacks: &FoldedStacks, description: &Description) -> Result<Vec<u8>, ProfilerError> {
    if stacks.total() > MAX_TOTAL {
        return Err(ProfilerError::TooLarge {
            format: "pprof",
            total: stacks.total(),
        });
    }
    let mut strings = Strings::default();
    let mut functions: HashMap<&str, u64> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut samples = Message::default();
    let mut ids: Vec<u64> = Vec::new();
    for (stack, count) in stacks.iter() {
        ids.clear();
        for frame in stack.split(';').rev() {
            let next = order.len() as u64 + 1;
            let id = *functions.entry(frame).or_insert_with(|| {
                order.push(frame);
                next
            });
            ids.push(id);
        }
        let mut sample = Message::default();
        sample.packed(1, ids.iter().copied());
        sample.packed(2, [count]);
        samples.message(2, &sample);
    }
    let mut profile = Message::default();
    profile.message(1, &value_type(&description.sample_type, &mut strings));
    profile.bytes.extend_from_slice(&samples.bytes);
    for id in 1..=order.len() as u64 {
        let mut line = Message::default();
        line.uint(1, id);
        let mut location = Message::default();
        location.uint(1, id);
        location.message(4, &line);
        profile.message(4, &location);
    }
    for (index, frame) in order.iter().enumerate() {
        let name = strings.index(frame);
        let mut function = Message::default();
        function.uint(1, index as u64 + 1);
        function.uint(2, name);
        function.uint(3, name);
        profile.message(5, &function);
    }
    let comments: Vec<u64> = (description.comments.iter())
        .map(|c| strings.index(c))
        .collect();
    let period = (description.period.as_ref())
        .map(|(kind, length)| (value_type(kind, &mut strings), *length));
    for text in &strings.table {
        profile.bytes_field(6, text.as_bytes());
    }
    profile.int(9, description.time_nanos);
    profile.int(10, description.duration_nanos);
    if let Some((kind, length)) = &period {
        profile.message(11, kind);
        profile.int(12, *length);
    }
    profile.packed(13, comments);
    Ok(profile.bytes)
}

/// `stacks` as a gzipped `profile.proto` file, as pprof writes and reads them.
///
/// # Errors
/// As [`encode`].
pub fn encode_gzipped(
    stacks: &FoldedStacks,
    description: &Description,
) -> Result<Vec<u8>, ProfilerError> {
    let raw = encode(stacks, description)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(&raw);
    Ok(gz.finish().unwrap_or_default())
}

pub(crate) fn value_type(value: &ValueType, strings: &mut Strings) -> Message {
    let mut message = Message::default();
    message.uint(1, strings.index(&value.kind));
    message.uint(2, strings.index(&value.unit));
    message
}

/// The profile's string table: every string once, the empty string first as the format
/// requires.
pub(crate) struct Strings {
    pub(crate) table: Vec<String>,
    index: HashMap<String, u64>,
}

impl Default for Strings {
    fn default() -> Strings {
        Strings {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Strings {
    pub(crate) fn index(&mut self, text: &str) -> u64 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.table.len() as u64;
        self.table.push(text.to_owned());
        self.index.insert(text.to_owned(), i);
        i
    }
}

/// A protobuf message being written. Fields at their default value are left out, as proto3
/// encoders do.
#[derive(Default)]
pub(crate) struct Message {
    pub(crate) bytes: Vec<u8>,
}

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    pub(crate) fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, 0);
            self.varint(value);
        }
    }

    /// An `int64`: negative values take ten bytes, as the format says.
    pub(crate) fn int(&mut self, field: u32, value: i64) {
        self.uint(field, value as u64);
    }

    pub(crate) fn bytes_field(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.bytes.extend_from_slice(bytes);
    }

    pub(crate) fn message(&mut self, field: u32, message: &Message) {
        self.bytes_field(field, &message.bytes);
    }

    pub(crate) fn packed(&mut self, field: u32, values: impl IntoIterator<Item = u64>) {
        let mut inner = Message::default();
        values.into_iter().for_each(|v| inner.varint(v));
        if !inner.bytes.is_empty() {
            self.bytes_field(field, &inner.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field of a decoded message: its number and either a number or bytes.
    #[derive(Debug)]
    enum Field<'a> {
        Number(u32, u64),
        Bytes(u32, &'a [u8]),
    }

    fn varint(bytes: &[u8], at: &mut usize) -> u64 {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*at];
            *at += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return value;
            }
            shift += 7;
        }
    }

    /// The fields of a message, in order (a reader for the test only).
    fn fields(bytes: &[u8]) -> Vec<Field<'_>> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < bytes.len() {
            let key = varint(bytes, &mut at);
            let field = u32::try_from(key >> 3).unwrap();
            match key & 7 {
                0 => out.push(Field::Number(field, varint(bytes, &mut at))),
                2 => {
                    let len = usize::try_from(varint(bytes, &mut at)).unwrap();
                    out.push(Field::Bytes(field, &bytes[at..at + len]));
                    at += len;
                }
                other => panic!("wire type {other}"),
            }
        }
        out
    }

    fn packed(bytes: &[u8]) -> Vec<u64> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < bytes.len() {
            out.push(varint(bytes, &mut at));
        }
        out
    }

    /// The first number field `n` of a message.
    fn number(fields: &[Field<'_>], n: u32) -> u64 {
        (fields.iter())
            .find_map(|f| match f {
                Field::Number(m, v) if *m == n => Some(*v),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Each location's id and the name of the function of its one line.
    fn locations<'a>(fields: &[Field<'_>], strings: &[&'a str]) -> HashMap<u64, &'a str> {
        let nested = |n| {
            (fields.iter()).filter_map(move |f| match f {
                Field::Bytes(m, b) if *m == n => Some(super::tests::fields(b)),
                _ => None,
            })
        };
        let names: HashMap<u64, &str> = nested(5)
            .map(|f| {
                (
                    number(&f, 1),
                    strings[usize::try_from(number(&f, 2)).unwrap()],
                )
            })
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        nested(4)
            .map(|location| {
                let line = location.iter().find_map(|g| match g {
                    Field::Bytes(4, line) => Some(super::tests::fields(line)),
                    _ => None,
                });
                assert_ne!(number(&location, 1), 0);
                (number(&location, 1), names[&number(&line.unwrap(), 1)])
            })
            .collect()
    }

    #[test]
    fn stacks_become_samples_of_locations_innermost_first() {
        let stacks = FoldedStacks::parse("main;work;hash 3\nmain;work 1\nmain;io 2\n").unwrap();
        let mut description = Description::of(ValueType::new("samples", "count"));
        description.period = Some((ValueType::new("cpu", "nanoseconds"), 1_001_001));
        description.comments.push("event: cpu-clock".into());
        let raw = encode(&stacks, &description).unwrap();
        let fields = fields(&raw);
        let strings: Vec<&str> = (fields.iter())
            .filter_map(|f| match f {
                Field::Bytes(6, s) => Some(std::str::from_utf8(s).unwrap()),
                _ => None,
            })
            .collect();
        assert_eq!(strings[0], "");
        let locations = locations(&fields, &strings);
        assert_eq!(locations.len(), 4, "{locations:?}");
        let mut samples = Vec::new();
        for f in &fields {
            if let Field::Bytes(2, sample) = f {
                let mut frames = Vec::new();
                let mut value = Vec::new();
                for g in super::tests::fields(sample) {
                    match g {
                        Field::Bytes(1, ids) => {
                            frames = packed(ids).iter().map(|i| locations[i]).collect();
                        }
                        Field::Bytes(2, v) => value = packed(v),
                        _ => {}
                    }
                }
                samples.push((frames.join(";"), value));
            }
        }
        samples.sort();
        assert_eq!(
            samples,
            [
                ("hash;work;main".to_owned(), vec![3]),
                ("io;main".to_owned(), vec![2]),
                ("work;main".to_owned(), vec![1]),
            ]
        );
        let number = |n| {
            fields.iter().find_map(|f| match f {
                Field::Number(m, v) if *m == n => Some(*v),
                _ => None,
            })
        };
        assert_eq!(number(12), Some(1_001_001));
        let types: Vec<Vec<&str>> = (fields.iter())
            .filter_map(|f| match f {
                Field::Bytes(1 | 11, t) => Some(
                    super::tests::fields(t)
                        .iter()
                        .map(|g| match g {
                            Field::Number(_, i) => strings[usize::try_from(*i).unwrap()],
                            Field::Bytes(..) => "?",
                        })
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        assert_eq!(types, [["samples", "count"], ["cpu", "nanoseconds"]]);
        let comments = fields.iter().find_map(|f| match f {
            Field::Bytes(13, c) => Some(packed(c)),
            _ => None,
        });
        let comment = comments.unwrap()[0];
        assert_eq!(
            strings[usize::try_from(comment).unwrap()],
            "event: cpu-clock"
        );
    }

    #[test]
    fn the_gzipped_form_starts_as_gzip_does_and_holds_the_message() {
        let stacks = FoldedStacks::parse("a;b 1\n").unwrap();
        let description = Description::of(ValueType::new("samples", "count"));
        let gz = encode_gzipped(&stacks, &description).unwrap();
        assert_eq!(&gz[..2], [0x1f, 0x8b]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        assert_eq!(raw, encode(&stacks, &description).unwrap());
    }

    #[test]
    fn counts_pprof_cannot_add_up_are_refused() {
        let mut stacks = FoldedStacks::new();
        stacks.add("a", u64::MAX / 2);
        stacks.add("b", u64::MAX / 2);
        let description = Description::of(ValueType::new("samples", "count"));
        assert!(matches!(
            encode(&stacks, &description),
            Err(ProfilerError::TooLarge {
                format: "pprof",
                ..
            })
        ));
    }

    #[test]
    fn negative_numbers_take_ten_bytes_and_zero_none() {
        let mut m = Message::default();
        m.int(9, 0);
        assert!(m.bytes.is_empty());
        m.int(9, -1);
        assert_eq!(m.bytes.len(), 1 + 10);
    }
}
