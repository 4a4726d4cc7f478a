//! Property: for any content, starting offset and length, every method that applies copies
//! exactly the bytes `[offset, offset + len)` clipped to the end of the file, and leaves the
//! source offset just past them.

use std::fs::File;
use std::io::{Seek, SeekFrom};

use perfkit_zerocopy::{Method, Pipe, TransferOptions, transfer_with};
use proptest::prelude::*;

fn method_strategy() -> impl Strategy<Value = Option<Method>> {
    prop_oneof![
        Just(None),
        proptest::sample::select(Method::ALL.to_vec()).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn file_to_file_copies_exactly_the_range(
        content in proptest::collection::vec(any::<u8>(), 0..300_000),
        start_frac in 0.0f64..=1.0,
        len in proptest::option::of(0u64..400_000),
        method in method_strategy(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, &content).expect("write");
        let start = (content.len() as f64 * start_frac) as u64;
        let mut src = File::open(&src_path).expect("open");
        src.seek(SeekFrom::Start(start)).expect("seek");
        let dst_path = dir.path().join("dst");
        let dst = File::create(&dst_path).expect("create");
        let options = TransferOptions { method, ..TransferOptions::default() };
        let stats = transfer_with(&src, &dst, len, &options).expect("transfer");
        let end = len.map_or(content.len() as u64, |l| (start + l).min(content.len() as u64));
        let expected = &content[start as usize..end as usize];
        prop_assert_eq!(stats.bytes, expected.len() as u64);
        prop_assert_eq!(std::fs::read(&dst_path).expect("read"), expected);
        prop_assert_eq!(src.stream_position().expect("position"), end);
    }

    #[test]
    fn file_to_pipe_copies_exactly_the_range(
        content in proptest::collection::vec(any::<u8>(), 0..300_000),
        len in proptest::option::of(0u64..400_000),
        method in method_strategy().prop_filter("applies to a pipe", |m| *m != Some(Method::CopyFileRange)),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, &content).expect("write");
        let src = File::open(&src_path).expect("open");
        let pipe = Pipe::new().expect("pipe");
        let mut reader = File::from(pipe.reader);
        let drainer = std::thread::spawn(move || {
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut all).expect("drain");
            all
        });
        let options = TransferOptions { method, ..TransferOptions::default() };
        let stats = transfer_with(&src, &pipe.writer, len, &options).expect("transfer");
        drop(pipe.writer);
        let end = len.map_or(content.len(), |l| (l as usize).min(content.len()));
        prop_assert_eq!(stats.bytes, end as u64);
        prop_assert_eq!(drainer.join().expect("drainer"), &content[..end]);
    }
}
