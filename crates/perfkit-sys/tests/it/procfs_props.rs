//! Malformed `/proc` text is an error value, never a panic.

use perfkit_sys::procfs::{parse_cpu_times, parse_io, parse_stat, parse_status_memory};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = parse_stat(&text);
        let _ = parse_io(&text);
        let _ = parse_status_memory(&text);
        let _ = parse_cpu_times(&text);
    }

    #[test]
    fn truncated_real_files_never_panic(cut in 0usize..2000) {
        let pid = std::process::id();
        for path in [format!("/proc/{pid}/stat"), format!("/proc/{pid}/io"), format!("/proc/{pid}/status"), "/proc/stat".to_string()] {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let mut end = cut.min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            let part = &text[..end];
            let _ = parse_stat(part);
            let _ = parse_io(part);
            let _ = parse_status_memory(part);
            let _ = parse_cpu_times(part);
        }
    }
}

#[test]
fn our_own_proc_files_parse() {
    let pid = std::process::id();
    let stat = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap()).unwrap();
    assert!(matches!(stat.state, 'R' | 'S'), "{stat:?}");
    assert!(stat.num_threads >= 1);
    let io = parse_io(&std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap()).unwrap();
    assert!(io.rchar > 0);
    let (rss, hwm) =
        parse_status_memory(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap())
            .unwrap();
    assert!(rss.unwrap() > 0 && hwm.unwrap() >= rss.unwrap());
    let cpu = parse_cpu_times(&std::fs::read_to_string("/proc/stat").unwrap()).unwrap();
    assert!(cpu.total > cpu.iowait);
}
