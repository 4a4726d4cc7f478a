use super::*;

fn frame(address: u64, function: &str, line: u32) -> HeapFrame {
    HeapFrame {
        address,
        function: function.to_owned(),
        file: Some("/src/app.c".to_owned()),
        line: Some(line),
        inlined: false,
    }
}

/// Two sites: `grow` held 10 MiB at the peak, `parse` allocated much and leaked a little.
fn profile() -> HeapProfile {
    let grow = HeapSite {
        frames: vec![frame(0x10, "grow", 5), frame(0x20, "main", 9)],
        samples: 20,
        alloc_bytes: 10.0 * 1_048_576.0,
        alloc_objects: 10.0,
        freed_bytes: 10.0 * 1_048_576.0,
        freed_objects: 10.0,
        peak_bytes: 10.0 * 1_048_576.0,
        peak_objects: 10.0,
        lifetimes: vec![0.0; 30].into_iter().chain([10.0]).collect(),
        ..HeapSite::default()
    };
    let parse = HeapSite {
        frames: vec![
            HeapFrame {
                inlined: true,
                ..frame(0x30, "alloc::raw_vec::finish_grow", 1)
            },
            frame(0x30, "parse", 14),
            frame(0x21, "main", 10),
        ],
        samples: 40,
        alloc_bytes: 40.0 * 1_048_576.0,
        alloc_objects: 400_000.0,
        freed_objects: 399_000.0,
        live_bytes: 4096.0,
        live_objects: 1000.0,
        lifetimes: vec![0.0, 399_000.0],
        ..HeapSite::default()
    };
    HeapProfile {
        interval: 524_288,
        sites: vec![grow, parse],
        peak_bytes_estimate: 10.0 * 1_048_576.0,
        live_bytes_estimate: 4096.0,
        duration_ns: 2_000_000,
        peak_at_ns: 1_000_000,
        command: Some("./app".to_owned()),
        ..HeapProfile::default()
    }
}

#[test]
fn elf_kind_tells_a_dynamic_program_from_a_static_one() {
    assert!(read_elf(Path::new("/bin/sh")).is_some_and(|elf| elf.interpreter));
    assert_eq!(read_elf(Path::new("/etc/hostname")), None);
}

#[test]
fn folded_stacks_run_outermost_first_and_weigh_the_chosen_figure() {
    let p = profile();
    let peak = folded(&p, HeapMetric::PeakBytes);
    assert_eq!(peak.lines(), ["main;grow 10485760"]);
    let blocks = folded(&p, HeapMetric::AllocObjects);
    assert!(
        blocks
            .lines()
            .contains(&"main;parse;alloc::raw_vec::finish_grow 400000".to_owned())
    );
}

#[test]
fn the_report_names_sites_past_the_runtime_and_lists_leaks_and_churn() {
    let report = SampledHeapReport::new(&profile(), "./app", 5);
    assert_eq!(report.top_at_peak[0].function, "grow");
    assert_eq!(report.top_at_peak[0].share, 1.0);
    // The site is named after `parse`, not the runtime frame inlined into it.
    assert_eq!(report.top_allocated[0].function, "parse");
    assert_eq!(
        report.top_allocated[0].location.as_deref(),
        Some("app.c:14")
    );
    assert_eq!(report.top_allocated[0].callers, ["main"]);
    assert_eq!(report.leaked.len(), 1);
    assert_eq!(report.short_lived[0].function, "parse");
    assert!(report.short_lived.iter().all(|l| l.function != "grow"));
    let text = report.to_text();
    for heading in [
        "Live at the peak, by site",
        "Allocated in all, by site",
        "Still live at exit (leaked), by site",
        "Short-lived",
    ] {
        assert!(text.contains(heading), "{text}");
    }
}

#[test]
fn dhat_json_has_what_dh_view_checks() {
    let json = dhat::to_json(&profile());
    for key in [
        "dhatFileVersion",
        "mode",
        "verb",
        "bklt",
        "bkacc",
        "tu",
        "Mtu",
        "cmd",
        "pid",
        "te",
        "tg",
        "tuth",
        "pps",
        "ftbl",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
    assert_eq!(json["ftbl"][0], "[root]");
    let first = &json["pps"][0];
    assert_eq!(first["gb"], 10_485_760);
    // Frames innermost first, as DHAT lists them; `main` of both sites differ by address.
    assert_eq!(
        json["ftbl"][first["fs"][0].as_u64().unwrap() as usize],
        "0x10: grow (/src/app.c:5)"
    );
    assert_eq!(json["ftbl"].as_array().unwrap().len(), 1 + 5);
}

#[test]
fn pprof_groups_inlined_frames_into_one_location() {
    let raw = pprof::encode_raw(&profile()).unwrap();
    // Four locations: 0x10, 0x20, 0x30 (two lines: inlined), 0x21.
    let text = String::from_utf8_lossy(&raw);
    for name in [
        "grow",
        "parse",
        "main",
        "alloc::raw_vec::finish_grow",
        "peak_space",
    ] {
        assert!(text.contains(name), "{name}");
    }
    let gz = pprof::encode(&profile()).unwrap();
    assert_eq!(&gz[..2], b"\x1f\x8b");
}

#[test]
fn sites_that_read_the_same_are_one_line_of_the_report() {
    let mut p = profile();
    // The same function, line and caller as `grow`, reached from another address of main.
    let mut again = p.sites[0].clone();
    again.frames[1].address = 0x99;
    again.peak_bytes = 1_048_576.0;
    again.peak_objects = 1.0;
    p.sites.push(again);
    let report = SampledHeapReport::new(&p, "./app", 5);
    assert_eq!(report.top_at_peak.len(), 1, "{:?}", report.top_at_peak);
    assert_eq!(report.top_at_peak[0].bytes, 11.0 * 1_048_576.0);
    assert_eq!(report.top_at_peak[0].objects, 11.0);
}
