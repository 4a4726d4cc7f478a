//! massif.out files of other programs and options (tests/data/massif/): the headline peak,
//! the sites and their shares hold on all of them.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use perfkit_profilers::massif::MassifProfile;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/massif")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "out"))
        .collect();
    files.sort();
    files
}

fn profile(name: &str) -> MassifProfile {
    MassifProfile::from_file(&dir().join(name)).unwrap()
}

#[test]
fn every_file_has_a_peak_and_sites_whose_shares_add_up() {
    let files = fixtures();
    assert!(files.len() >= 8);
    for file in files {
        let name = file.display();
        let profile = MassifProfile::from_file(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let peak = profile.peak().unwrap();
        let largest = profile
            .snapshots
            .iter()
            .map(perfkit_profilers::massif::MassifSnapshot::total)
            .max()
            .unwrap();
        assert_eq!(peak.total(), largest, "{name}");
        let sites = profile.top_sites(usize::MAX);
        assert!(!sites.is_empty(), "{name}");
        let paths: HashSet<&Vec<String>> = sites.iter().map(|s| &s.call_path).collect();
        assert_eq!(paths.len(), sites.len(), "{name}: a call path listed twice");
        let sum: f64 = sites.iter().map(|s| s.percent).sum();
        assert!(
            sites.iter().all(|s| (0.0..=100.0).contains(&s.percent)),
            "{name}"
        );
        assert!(sum <= 100.0 + 1e-9, "{name}: {sum}%");
    }
}

#[test]
fn the_peak_is_the_largest_snapshot_not_the_one_massif_marks() {
    let profile = profile("massif-grow-later-larger.out");
    let marked = profile
        .snapshots
        .iter()
        .find(|s| s.kind == perfkit_profilers::massif::SnapshotKind::Peak)
        .unwrap();
    let peak = profile.peak().unwrap();
    assert!(
        peak.total() > 80 * marked.total(),
        "{} vs {}",
        peak.total(),
        marked.total()
    );
    assert_eq!(profile.sites_snapshot().unwrap().index, peak.index);
    let sites = profile.top_sites(2);
    assert!(
        sites[0].site.starts_with("grow_table (grow.c:"),
        "{sites:?}"
    );
    assert!(
        sites[1].site.starts_with("grow_index (grow.c:"),
        "{sites:?}"
    );
    // With grow_table declared an allocation function, its caller is the site.
    let sites = self::profile("massif-grow-alloc-fn.out").top_sites(1);
    assert!(sites[0].site.starts_with("main (grow.c:"), "{sites:?}");
}

#[test]
fn sites_name_the_code_that_allocated() {
    // Pages as heap: the caller of mmap/brk, through malloc, up to the program.
    let sites = profile("massif-cpp-pages-as-heap.out").top_sites(3);
    assert!(sites[0].site.starts_with("main (tmpl.cpp:"), "{sites:?}");
    assert!(sites[1].site.starts_with("_dl_map_segment"), "{sites:?}");
    let system_calls = ["mmap", "__mmap64", "brk", "sbrk", "mremap"];
    for site in profile("massif-cpp-pages-as-heap.out").top_sites(usize::MAX) {
        let function = site.site.split(" (").next().unwrap();
        assert!(!system_calls.contains(&function), "{site:?}");
    }
    // C++ containers: past the allocator headers to the code that grew the container.
    let sites = profile("massif-cpp-default.out").top_sites(1);
    assert!(sites[0].site.starts_with("main (tmpl.cpp:"), "{sites:?}");
    // CPython: past its object allocator.
    let sites = profile("massif-python-bytes-depth4.out").top_sites(1);
    assert!(sites[0].site.starts_with("PyUnicode_New"), "{sites:?}");
    // The largest snapshot has no tree: the sites come from the largest that has one.
    let rust = profile("massif-rust-stacks-ms.out");
    let (peak, sites) = (rust.peak().unwrap(), rust.sites_snapshot().unwrap());
    assert!(peak.tree.is_none() && sites.tree.is_some());
    assert!(
        rust.top_sites(1)[0].site.starts_with("rec::main"),
        "{:?}",
        rust.top_sites(1)
    );
}

/// The text of a fixture with its first tree node's byte count replaced.
fn with_root_bytes(name: &str, bytes: &str) -> String {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let at = text.find("\nn").unwrap() + 1;
    let colon = at + text[at..].find(": ").unwrap() + 2;
    let end = colon + text[colon..].find(' ').unwrap();
    format!("{}{bytes}{}", &text[..colon], &text[end..])
}

#[test]
fn damaged_files_are_errors_not_impossible_shares() {
    for bytes in ["0", "1", "18446744073709551615"] {
        let err = MassifProfile::parse(&with_root_bytes("massif-grow-later-larger.out", bytes))
            .unwrap_err()
            .to_string();
        assert!(err.contains("damaged"), "{bytes}: {err}");
    }
}

#[test]
fn sites_with_the_same_call_path_are_one_site() {
    // Three callers at different addresses that massif describes alike (same function, same
    // line): one site with their bytes summed.
    let text = "desc: (none)\ncmd: ./app\ntime_unit: i\n#-----------\nsnapshot=0\n#-----------\n\
                time=1\nmem_heap_B=3145728\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=peak\n\
                n1: 3145728 (heap allocation functions) malloc/new/new[], --alloc-fns, etc.\n\
                \x20n3: 3145728 0x1: load (app.c:10)\n\
                \x20\x20n0: 1048576 0x2: main (app.c:20)\n\
                \x20\x20n0: 1048576 0x3: main (app.c:20)\n\
                \x20\x20n0: 1048576 0x4: main (app.c:20)\n";
    let sites = MassifProfile::parse(text).unwrap().top_sites(5);
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert_eq!(sites[0].bytes, 3 << 20);
    assert!((sites[0].percent - 100.0).abs() < 1e-9);
}

#[test]
fn trees_deeper_than_massif_writes_are_refused() {
    let mut text = String::from(
        "desc: (none)\ncmd: ./app\ntime_unit: i\n#-----------\nsnapshot=0\n#-----------\n\
         time=1\nmem_heap_B=8\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=peak\n",
    );
    for depth in 0..5000 {
        text.push_str(&" ".repeat(depth));
        let _ = writeln!(text, "n1: 8 0x{depth:x}: f{depth} (app.c:1)");
    }
    let err = MassifProfile::parse(&text).unwrap_err().to_string();
    assert!(err.contains("deeper than 1000 levels"), "{err}");
}
