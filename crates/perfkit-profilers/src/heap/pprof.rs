//! A sampled heap profile in pprof's `profile.proto`, as Go's heap profiles are: sample types
//! `alloc_objects`, `alloc_space`, `inuse_objects` and `inuse_space` (`inuse` is what was live
//! when the profile was taken: at exit, the leaks), then perfkit's `peak_objects` and
//! `peak_space` (live at the peak), which `go tool pprof` shows unless given
//! `-sample_index`. Each frame is a location with its address, function, file and line;
//! inlined calls share a location.

use std::collections::HashMap;
use std::io::Write as _;

use perfkit_alloc::{HeapFrame, HeapProfile};

use crate::ProfilerError;
use crate::pprof::{MAX_TOTAL, Message, Strings, ValueType, value_type};

/// The sample types, in the order of each sample's values.
pub const SAMPLE_TYPES: [(&str, &str); 6] = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
    ("peak_objects", "count"),
    ("peak_space", "bytes"),
];

/// `profile` as a gzipped `profile.proto`, the form `go tool pprof` reads.
///
/// # Errors
/// [`ProfilerError::TooLarge`] when a figure adds up to more than pprof's `int64` holds.
pub fn encode(profile: &HeapProfile) -> Result<Vec<u8>, ProfilerError> {
    let raw = encode_raw(profile)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(&raw);
    Ok(gz.finish().unwrap_or_default())
}

fn values(site: &perfkit_alloc::HeapSite) -> [f64; 6] {
    [
        site.alloc_objects,
        site.alloc_bytes,
        site.live_objects,
        site.live_bytes,
        site.peak_objects,
        site.peak_bytes,
    ]
}

/// `profile` as an uncompressed `profile.proto` message.
///
/// # Errors
/// As [`encode`].
pub fn encode_raw(profile: &HeapProfile) -> Result<Vec<u8>, ProfilerError> {
    let mut totals = [0f64; 6];
    for site in &profile.sites {
        for (sum, v) in totals.iter_mut().zip(values(site)) {
            *sum += v.max(0.0).round();
        }
    }
    if let Some(&total) = totals.iter().find(|&&t| t > MAX_TOTAL as f64) {
        return Err(ProfilerError::TooLarge {
            format: "pprof",
            total: total as u64,
        });
    }
    let mut strings = Strings::default();
    let mut profile_message = Message::default();
    for (kind, unit) in SAMPLE_TYPES {
        profile_message.message(1, &value_type(&ValueType::new(kind, unit), &mut strings));
    }
    let mut locations: HashMap<(u64, &[HeapFrame]), u64> = HashMap::new();
    let mut location_messages: Vec<Message> = Vec::new();
    let mut functions: HashMap<(&str, Option<&str>), u64> = HashMap::new();
    let mut function_messages: Vec<Message> = Vec::new();
    for site in &profile.sites {
        let mut ids = Vec::new();
        // A call and the calls inlined into it are one location (recursion, which repeats an
        // address without inlining, is not).
        let mut start = 0;
        while start < site.frames.len() {
            let address = site.frames[start].address;
            let end = start
                + site.frames[start..]
                    .iter()
                    .position(|f| !f.inlined)
                    .map_or(site.frames.len() - start, |i| i + 1);
            let group = &site.frames[start..end];
            let next = location_messages.len() as u64 + 1;
            let id = *locations.entry((address, group)).or_insert_with(|| {
                let mut location = Message::default();
                location.uint(1, next);
                location.uint(3, address);
                for frame in group {
                    let function_next = function_messages.len() as u64 + 1;
                    let function_id = *functions
                        .entry((frame.function.as_str(), frame.file.as_deref()))
                        .or_insert_with(|| {
                            let mut function = Message::default();
                            let name = strings.index(&frame.function);
                            function.uint(1, function_next);
                            function.uint(2, name);
                            function.uint(3, name);
                            if let Some(file) = &frame.file {
                                function.uint(4, strings.index(file));
                            }
                            function_messages.push(function);
                            function_next
                        });
                    let mut line = Message::default();
                    line.uint(1, function_id);
                    line.int(2, frame.line.map_or(0, i64::from));
                    location.message(4, &line);
                }
                location_messages.push(location);
                next
            });
            ids.push(id);
            start = end;
        }
        let mut sample = Message::default();
        sample.packed(1, ids);
        sample.packed(2, values(site).map(|v| v.max(0.0).round() as u64));
        profile_message.message(2, &sample);
    }
    for location in &location_messages {
        profile_message.message(4, location);
    }
    for function in &function_messages {
        profile_message.message(5, function);
    }
    let mut comments = vec![format!(
        "sampled heap profile: one sample per {} bytes allocated on average; figures are estimates",
        profile.interval
    )];
    if let Some(command) = &profile.command {
        comments.push(format!("command: {command}"));
    }
    let comment_ids: Vec<u64> = comments.iter().map(|c| strings.index(c)).collect();
    let period_type = value_type(&ValueType::new("space", "bytes"), &mut strings);
    let default_type = strings.index("peak_space");
    for text in &strings.table {
        profile_message.bytes_field(6, text.as_bytes());
    }
    profile_message.int(10, i64::try_from(profile.duration_ns).unwrap_or(i64::MAX));
    profile_message.message(11, &period_type);
    profile_message.int(12, i64::try_from(profile.interval).unwrap_or(i64::MAX));
    profile_message.packed(13, comment_ids);
    profile_message.uint(14, default_type);
    Ok(profile_message.bytes)
}
