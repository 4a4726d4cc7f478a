//! Memory maps (including the `SIGBUS` their contract is about, shown in a child process),
//! pipes with a capacity, `tee`, and the loop wrappers on their own.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use perfkit_zerocopy::{
    MapOptions, Method, MmapBuffer, MmapWriter, Pipe, TransferOptions, ZeroCopyError,
    copy_file_range, pipe_max_size, sendfile, splice, tee, transfer_with,
};

/// Set in a child process to run the body of a crash test instead of its parent part.
const CHILD: &str = "PERFKIT_ZEROCOPY_CHILD";

fn in_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == test)
}

/// Runs this test binary again with only `test` (of this module), as the child part.
fn run_child(test: &str, dir: &std::path::Path) -> std::process::Output {
    // Test names carry the module path after the crate's: `mmap_and_pipes::name`.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::{test}");
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env("PERFKIT_ZEROCOPY_DIR", dir)
        .output()
        .expect("run child")
}

#[test]
fn buffer_reads_the_file_with_every_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &bytes).expect("write");
    for populate in [false, true] {
        for sequential in [false, true] {
            let options = MapOptions {
                populate,
                sequential,
            };
            // SAFETY: the test's own file, not changed while mapped.
            let map = unsafe { MmapBuffer::open(&path, options) }.expect("map");
            assert_eq!(map.as_slice(), &bytes[..]);
        }
    }
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").expect("write");
    // SAFETY: as above.
    let map = unsafe { MmapBuffer::from_file(&empty) }.expect("map empty");
    assert!(map.is_empty());
    // SAFETY: the file does not exist; nothing is mapped.
    let missing = unsafe { MmapBuffer::from_file(dir.path().join("missing")) };
    let err = missing.expect_err("missing file");
    assert!(err.to_string().contains("cannot open"), "{err}");
}

#[test]
fn sealed_memfd_maps_safely_and_unsealed_files_are_refused() {
    let fd = memfd_create(c"perfkit-sealed", MFdFlags::MFD_ALLOW_SEALING).expect("memfd");
    let mut file = File::from(fd);
    file.write_all(b"sealed bytes").expect("write");
    let unsealed = MmapBuffer::from_sealed(&file, MapOptions::default());
    assert!(matches!(unsealed, Err(ZeroCopyError::NotSealed)));
    fcntl(
        &file,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_SEAL,
        ),
    )
    .expect("seal");
    let map = MmapBuffer::from_sealed(&file, MapOptions::default()).expect("map sealed");
    assert_eq!(&map[..], b"sealed bytes");
    assert!(file.set_len(0).is_err(), "the kernel refuses to shrink it");

    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain");
    std::fs::write(&plain, b"x").expect("write");
    let plain = File::open(&plain).expect("open");
    assert!(matches!(
        MmapBuffer::from_sealed(&plain, MapOptions::default()),
        Err(ZeroCopyError::NotSealed)
    ));
}

#[test]
fn writer_creates_sizes_and_flushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out");
    std::fs::write(&path, vec![7u8; 50_000]).expect("an older, longer file");
    // SAFETY: the test's own file, not touched by anything else while mapped.
    let mut writer = unsafe { MmapWriter::create(&path, 10_000) }.expect("create");
    assert_eq!(writer.len(), 10_000);
    assert!(writer.iter().all(|&b| b == 0), "a new file is zeros");
    for (i, b) in writer.as_mut_slice().iter_mut().enumerate() {
        *b = (i % 256) as u8;
    }
    writer.flush().expect("flush");
    writer.flush_async().expect("flush_async");
    let back = std::fs::read(&path).expect("read back");
    assert_eq!(back.len(), 10_000);
    assert!(back.iter().enumerate().all(|(i, &b)| b == (i % 256) as u8));
    drop(writer);
    // SAFETY: as above.
    let empty = unsafe { MmapWriter::create(dir.path().join("empty"), 0) }.expect("empty");
    assert!(empty.is_empty());
    empty.flush().expect("flush empty");
    // SAFETY: the directory does not exist; nothing is mapped.
    let err = unsafe { MmapWriter::create(dir.path().join("no/such/dir"), 10) }
        .expect_err("missing directory");
    assert!(err.to_string().contains("cannot create"), "{err}");
}

/// The contract of `MmapBuffer::from_file`, broken on purpose in a child process: the file
/// shrinks under the mapping and the next read past the new end raises SIGBUS.
#[test]
fn truncating_a_mapped_file_raises_sigbus() {
    const TEST: &str = "truncating_a_mapped_file_raises_sigbus";
    if in_child(TEST) {
        let dir = std::env::var("PERFKIT_ZEROCOPY_DIR").expect("dir");
        let path = std::path::Path::new(&dir).join("victim");
        std::fs::write(&path, vec![1u8; 1 << 16]).expect("write");
        // SAFETY: deliberately broken below, in this child only, to show the SIGBUS.
        let map = unsafe { MmapBuffer::from_file(&path) }.expect("map");
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(0))
            .expect("truncate");
        let byte = std::hint::black_box(&map[..])[40_000];
        println!("read {byte} without a signal");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_child(TEST, dir.path());
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGBUS),
        "child: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
}

/// The mmap *transfer* method never reads the mapping in user space: a source truncated
/// during the copy makes `write(2)` fail (EFAULT) and the transfer return an error, instead of
/// a SIGBUS. Run in a child so a signal would fail this test rather than the whole binary.
#[test]
fn mmap_transfer_of_a_truncated_source_is_an_error_not_a_signal() {
    const TEST: &str = "mmap_transfer_of_a_truncated_source_is_an_error_not_a_signal";
    if in_child(TEST) {
        let dir = std::env::var("PERFKIT_ZEROCOPY_DIR").expect("dir");
        let path = std::path::Path::new(&dir).join("shrinking");
        std::fs::write(&path, vec![2u8; 8 << 20]).expect("write");
        let src = File::open(&path).expect("open");
        let pipe = Pipe::new().expect("pipe");
        let truncate_path = path.clone();
        let mut reader = File::from(pipe.reader);
        let drainer = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut total = reader.read(&mut buf).expect("first read");
            File::options()
                .write(true)
                .open(&truncate_path)
                .and_then(|f| f.set_len(0))
                .expect("truncate");
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        });
        let options = TransferOptions {
            method: Some(Method::Mmap),
            pipe_size: perfkit_zerocopy::PipeSize::Keep,
        };
        let result = transfer_with(&src, &pipe.writer, None, &options);
        drop(pipe.writer);
        let total_read = drainer.join().expect("drainer");
        match result {
            Err(e) => println!("RESULT error {e} after draining {total_read}"),
            Ok(stats) => println!("RESULT copied {} drained {total_read}", stats.bytes),
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_child(TEST, dir.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child: {:?}\n{stdout}",
        output.status
    );
    assert!(
        stdout.contains("RESULT error write failed") && stdout.contains("Bad address"),
        "{stdout}"
    );
}

#[test]
fn pipe_capacity_is_set_capped_and_reported() {
    let pipe = Pipe::new().expect("pipe");
    let before = pipe.capacity().expect("capacity");
    let grown = pipe.set_capacity(256 << 10).expect("grow");
    assert_eq!(grown.before, before);
    assert_eq!(grown.granted, 256 << 10);
    assert_eq!(pipe.capacity().expect("capacity"), 256 << 10);
    let rounded = pipe.set_capacity(100_000).expect("round");
    assert_eq!(
        rounded.granted,
        128 << 10,
        "rounded up to a power of two pages"
    );
    if let Some(max) = pipe_max_size() {
        let capped = pipe.set_capacity(max * 4).expect("cap");
        assert_eq!(capped.max, Some(max));
        assert_eq!(capped.granted, max, "capped at pipe-max-size even for root");
    }
    let with = Pipe::with_capacity(1 << 17).expect("with capacity");
    assert_eq!(with.capacity().expect("capacity"), 1 << 17);
}

#[test]
fn tee_duplicates_without_consuming() {
    let src = Pipe::new().expect("pipe");
    let copy = Pipe::new().expect("pipe");
    File::from(src.writer.try_clone().expect("dup"))
        .write_all(b"hello, tee")
        .expect("write");
    let n = tee(&src.reader, &copy.writer, 1 << 20).expect("tee");
    assert_eq!(n, 10);
    drop(src.writer);
    drop(copy.writer);
    let mut original = String::new();
    File::from(src.reader)
        .read_to_string(&mut original)
        .expect("read original");
    let mut duplicate = String::new();
    File::from(copy.reader)
        .read_to_string(&mut duplicate)
        .expect("read copy");
    assert_eq!(original, "hello, tee");
    assert_eq!(duplicate, "hello, tee");
}

#[test]
fn the_loop_wrappers_copy_to_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes: Vec<u8> = (0..(3 << 20) + 11)
        .map(|i: u32| (i * 7 % 256) as u8)
        .collect();
    let src_path = dir.path().join("src");
    std::fs::write(&src_path, &bytes).expect("write");

    let dst_path = dir.path().join("cfr");
    let moved = copy_file_range(
        File::open(&src_path).expect("open"),
        File::create(&dst_path).expect("create"),
        None,
    )
    .expect("copy_file_range");
    assert_eq!(moved, bytes.len() as u64);
    assert_eq!(std::fs::read(&dst_path).expect("read"), bytes);

    let dst_path = dir.path().join("sendfile");
    let moved = sendfile(
        File::open(&src_path).expect("open"),
        File::create(&dst_path).expect("create"),
        Some(1_000_001),
    )
    .expect("sendfile");
    assert_eq!(moved, 1_000_001);
    assert_eq!(std::fs::read(&dst_path).expect("read"), &bytes[..1_000_001]);

    // splice into a pipe: the reader must run meanwhile, the pipe holds 64 KiB.
    let pipe = Pipe::new().expect("pipe");
    let mut reader = File::from(pipe.reader);
    let drainer = std::thread::spawn(move || {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).expect("drain");
        all
    });
    let moved = splice(File::open(&src_path).expect("open"), &pipe.writer, None).expect("splice");
    drop(pipe.writer);
    assert_eq!(moved, bytes.len() as u64);
    assert_eq!(drainer.join().expect("drainer"), bytes);

    // Two non-pipes: the kernel refuses; the error says which call and how far it got.
    let err = splice(
        File::open(&src_path).expect("open"),
        File::create(dir.path().join("x")).expect("create"),
        None,
    )
    .expect_err("no pipe");
    assert!(
        err.to_string().starts_with("splice failed after 0 bytes"),
        "{err}"
    );
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
}
