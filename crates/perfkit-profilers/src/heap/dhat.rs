//! A sampled heap profile as DHAT's JSON (file version 2), which DHAT's viewer
//! (`dh_view.html`, shipped with valgrind) opens: one program point per call stack, with
//! total, maximum, at-peak (`t-gmax`) and at-end figures and lifetimes in microseconds.
//! Block accesses (`bkacc`) are not measured.

use std::collections::HashMap;
use std::fmt::Write as _;

use perfkit_alloc::{HeapFrame, HeapProfile};
use serde_json::{Value, json};

/// `profile` as DHAT's JSON.
#[must_use]
pub fn to_json(profile: &HeapProfile) -> Value {
    let mut frame_table: Vec<String> = vec!["[root]".to_owned()];
    let mut frame_ids: HashMap<String, usize> = HashMap::new();
    let mut points = Vec::new();
    for site in &profile.sites {
        let frames: Vec<usize> = site
            .frames
            .iter()
            .map(|frame| {
                let text = describe(frame);
                let next = frame_table.len();
                *frame_ids.entry(text.clone()).or_insert_with(|| {
                    frame_table.push(text);
                    next
                })
            })
            .collect();
        let whole = |v: f64| v.max(0.0).round() as u64;
        points.push(json!({
            "tb": whole(site.alloc_bytes),
            "tbk": whole(site.alloc_objects),
            "tl": whole(site.lifetime_ns / 1000.0),
            "mb": whole(site.max_bytes),
            "mbk": whole(site.max_objects),
            "gb": whole(site.peak_bytes),
            "gbk": whole(site.peak_objects),
            "eb": whole(site.live_bytes),
            "ebk": whole(site.live_objects),
            "fs": frames,
        }));
    }
    json!({
        "dhatFileVersion": 2,
        "mode": "heap",
        "verb": "Allocated",
        "bklt": true,
        "bkacc": false,
        "tu": "µs",
        "Mtu": "s",
        // Blocks that live no longer than this on average count as short-lived.
        "tuth": 1000,
        "cmd": profile.command.clone().unwrap_or_else(|| "[unknown]".to_owned()),
        "pid": profile.pid.unwrap_or(0),
        "te": profile.duration_ns / 1000,
        "tg": profile.peak_at_ns / 1000,
        "pps": points,
        "ftbl": frame_table,
    })
}

/// A frame as DHAT writes it: `0xADDRESS: function (file:line)`.
fn describe(frame: &HeapFrame) -> String {
    let mut text = format!("{:#x}: {}", frame.address, frame.function);
    if let Some(file) = &frame.file {
        let _ = write!(text, " ({file}");
        if let Some(line) = frame.line {
            let _ = write!(text, ":{line}");
        }
        text.push(')');
    }
    text
}
