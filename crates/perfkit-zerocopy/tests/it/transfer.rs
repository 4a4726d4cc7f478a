//! Every method on every pair of descriptors it supports copies the bytes exactly, including
//! odd lengths, empty inputs and non-blocking destinations; the automatic choice falls back
//! when the kernel refuses a method.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread::JoinHandle;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use perfkit_zerocopy::{
    FdKind, Method, Pipe, PipeSize, SocketFamily, TransferOptions, ZeroCopyError, forget_refusals,
    inspect, transfer, transfer_with,
};

/// Lengths around page (4 KiB) and pipe (64 KiB) boundaries, and one above the 1 MiB pipe.
const SIZES: [usize; 6] = [0, 1, 4095, 65_537, 1 << 20, (3 << 20) + 7];

fn data(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// FNV-1a, enough to tell two byte streams apart.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> File {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write source");
    File::open(&path).expect("open source")
}

fn options(method: Option<Method>) -> TransferOptions {
    TransferOptions {
        method,
        ..TransferOptions::default()
    }
}

fn label(method: Option<Method>) -> String {
    method.map_or_else(|| "auto".to_string(), |m| m.to_string())
}

/// Reads everything from `from` on a thread (a drained sink).
fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        from.read_to_end(&mut all).expect("drain");
        all
    })
}

/// Writes `bytes` into `to` on a thread, then closes it (a fed source).
fn feed(mut to: impl Write + Send + 'static, bytes: Vec<u8>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        to.write_all(&bytes).expect("feed");
    })
}

fn set_nonblocking(fd: impl AsFd) {
    let fd = fd.as_fd();
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).expect("F_GETFL"));
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).expect("F_SETFL");
}

const FILE_TO_ANY: [Option<Method>; 5] = [
    None,
    Some(Method::Sendfile),
    Some(Method::Splice),
    Some(Method::Mmap),
    Some(Method::ReadWrite),
];

const STREAM_SOURCE: [Option<Method>; 3] = [None, Some(Method::Splice), Some(Method::ReadWrite)];

#[test]
fn file_to_file_every_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    let methods = [Some(Method::CopyFileRange)].into_iter().chain(FILE_TO_ANY);
    for method in methods {
        for (i, &size) in SIZES.iter().enumerate() {
            let bytes = data(size, i as u64 + 1);
            let src = file_with(dir.path(), "src", &bytes);
            let dst_path = dir.path().join("dst");
            let dst = File::create(&dst_path).expect("create");
            let stats = transfer_with(&src, &dst, None, &options(method)).expect("transfer");
            assert_eq!(stats.bytes, size as u64, "{} {size}", label(method));
            let copied = std::fs::read(&dst_path).expect("read back");
            assert_eq!(hash(&copied), hash(&bytes), "{} {size}", label(method));
            if let Some(m) = method {
                assert_eq!(stats.method, m);
            }
            assert_eq!((stats.src, stats.dst), (FdKind::File, FdKind::File));
        }
    }
}

#[test]
fn file_to_pipe_every_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    for method in FILE_TO_ANY {
        for (i, &size) in SIZES.iter().enumerate() {
            let bytes = data(size, i as u64 + 7);
            let src = file_with(dir.path(), "src", &bytes);
            let pipe = Pipe::new().expect("pipe");
            let reader = drain(File::from(pipe.reader));
            let stats =
                transfer_with(&src, &pipe.writer, None, &options(method)).expect("transfer");
            drop(pipe.writer);
            let received = reader.join().expect("reader");
            assert_eq!(stats.bytes, size as u64, "{} {size}", label(method));
            assert_eq!(hash(&received), hash(&bytes), "{} {size}", label(method));
        }
    }
}

#[test]
fn automatic_file_to_pipe_grows_the_pipe_and_splices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(1 << 20, 3);
    let src = file_with(dir.path(), "src", &bytes);
    let pipe = Pipe::new().expect("pipe");
    let before = pipe.capacity().expect("capacity");
    let reader = drain(File::from(pipe.reader));
    let stats = transfer(&src, &pipe.writer, None).expect("transfer");
    drop(pipe.writer);
    assert_eq!(reader.join().expect("reader"), bytes);
    let resize = stats.pipe.expect("the destination pipe was grown");
    assert_eq!(resize.before, before);
    assert!(resize.granted >= 256 << 10, "{resize:?}");
    assert_eq!(stats.method, Method::Splice);
}

#[test]
fn automatic_pipe_and_socket_to_pipe_grow_the_pipe_and_splice() {
    let bytes = data((1 << 20) + 5, 6);
    let src = Pipe::new().expect("pipe");
    let feeder = feed(File::from(src.writer), bytes.clone());
    let dst = Pipe::new().expect("pipe");
    let reader = drain(File::from(dst.reader));
    let stats = transfer(&src.reader, &dst.writer, None).expect("pipe → pipe");
    drop(dst.writer);
    feeder.join().expect("feeder");
    assert_eq!(hash(&reader.join().expect("reader")), hash(&bytes));
    assert_eq!(stats.method, Method::Splice);
    let resize = stats.pipe.expect("the destination pipe was grown");
    assert!(resize.granted >= 256 << 10, "{resize:?}");

    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let feeder = feed(theirs, bytes.clone());
    let dst = Pipe::new().expect("pipe");
    let reader = drain(File::from(dst.reader));
    let stats = transfer(&ours, &dst.writer, None).expect("socket → pipe");
    drop(dst.writer);
    feeder.join().expect("feeder");
    assert_eq!(hash(&reader.join().expect("reader")), hash(&bytes));
    assert_eq!(stats.method, Method::Splice);
    assert!(stats.pipe.is_some(), "{stats:?}");
}

#[test]
fn automatic_file_to_small_pipe_uses_read_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(300_000, 4);
    let src = file_with(dir.path(), "src", &bytes);
    let pipe = Pipe::new().expect("pipe");
    let reader = drain(File::from(pipe.reader));
    let opts = TransferOptions {
        method: None,
        pipe_size: PipeSize::Keep,
    };
    let stats = transfer_with(&src, &pipe.writer, None, &opts).expect("transfer");
    drop(pipe.writer);
    assert_eq!(reader.join().expect("reader"), bytes);
    assert_eq!(
        stats.method,
        Method::ReadWrite,
        "a 64 KiB pipe is not spliced into"
    );
    assert_eq!(stats.pipe, None);
}

#[test]
fn pipe_to_file_and_pipe_to_pipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    for method in STREAM_SOURCE {
        for (i, &size) in SIZES.iter().enumerate() {
            let bytes = data(size, i as u64 + 11);
            let src = Pipe::new().expect("pipe");
            let feeder = feed(File::from(src.writer), bytes.clone());
            let dst_path = dir.path().join("dst");
            let dst = File::create(&dst_path).expect("create");
            let stats = transfer_with(&src.reader, &dst, None, &options(method)).expect("to file");
            feeder.join().expect("feeder");
            assert_eq!(
                stats.bytes,
                size as u64,
                "pipe→file {} {size}",
                label(method)
            );
            let copied = std::fs::read(&dst_path).expect("read back");
            assert_eq!(
                hash(&copied),
                hash(&bytes),
                "pipe→file {} {size}",
                label(method)
            );

            let src = Pipe::new().expect("pipe");
            let dst = Pipe::new().expect("pipe");
            let feeder = feed(File::from(src.writer), bytes.clone());
            let reader = drain(File::from(dst.reader));
            let stats =
                transfer_with(&src.reader, &dst.writer, None, &options(method)).expect("to pipe");
            drop(dst.writer);
            feeder.join().expect("feeder");
            assert_eq!(
                stats.bytes,
                size as u64,
                "pipe→pipe {} {size}",
                label(method)
            );
            let received = reader.join().expect("reader");
            assert_eq!(
                hash(&received),
                hash(&bytes),
                "pipe→pipe {} {size}",
                label(method)
            );
        }
    }
}

#[test]
fn file_to_socket_every_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    for method in FILE_TO_ANY {
        for (i, &size) in SIZES.iter().enumerate() {
            let bytes = data(size, i as u64 + 13);
            let src = file_with(dir.path(), "src", &bytes);
            let (ours, theirs) = UnixStream::pair().expect("socket pair");
            let reader = drain(theirs);
            let stats = transfer_with(&src, &ours, None, &options(method)).expect("transfer");
            drop(ours);
            assert_eq!(stats.dst, FdKind::Socket);
            assert_eq!(stats.bytes, size as u64, "{} {size}", label(method));
            let received = reader.join().expect("reader");
            assert_eq!(hash(&received), hash(&bytes), "{} {size}", label(method));
        }
    }
}

fn loopback_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let client =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

#[test]
fn file_to_tcp_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    // From 1 MiB on, a file goes to a TCP socket with a local peer by mmap (written 1 MiB at
    // a time: this length makes three writes, the last one short); below, by sendfile.
    for (size, expected) in [
        ((2 << 20) + 3, Method::Mmap),
        ((1 << 20) - 1, Method::Sendfile),
    ] {
        let bytes = data(size, 17);
        let src = file_with(dir.path(), "src", &bytes);
        let (client, server) = loopback_pair();
        let reader = drain(server);
        let stats = transfer(&src, &client, None).expect("transfer");
        drop(client);
        assert_eq!(stats.method, expected, "{size} bytes: {stats:?}");
        assert!(stats.fallbacks.is_empty(), "{stats:?}");
        assert_eq!(stats.bytes, size as u64);
        assert_eq!(hash(&reader.join().expect("reader")), hash(&bytes));
    }
    // Into a Unix socket sendfile stays ahead up to a larger size.
    for (size, expected) in [((16 << 20) + 1, Method::Mmap), (4 << 20, Method::Sendfile)] {
        let bytes = data(size, 18);
        let src = file_with(dir.path(), "src", &bytes);
        let (ours, theirs) = UnixStream::pair().expect("socket pair");
        let reader = drain(theirs);
        let stats = transfer(&src, &ours, None).expect("transfer");
        drop(ours);
        assert_eq!(stats.method, expected, "{size} bytes: {stats:?}");
        assert_eq!(hash(&reader.join().expect("reader")), hash(&bytes));
    }
}

#[test]
fn mmap_to_a_local_socket_starts_at_the_offset_and_stops_at_the_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data((3 << 20) + 4097, 19);
    let mut src = file_with(dir.path(), "src", &bytes);
    src.seek(SeekFrom::Start(12_345)).expect("seek");
    let (ours, theirs) = loopback_pair();
    let reader = drain(theirs);
    let len = (2 << 20) + 7;
    let stats = transfer(&src, &ours, Some(len as u64)).expect("transfer");
    drop(ours);
    assert_eq!(stats.method, Method::Mmap, "{stats:?}");
    assert_eq!(stats.bytes, len as u64);
    assert_eq!(
        hash(&reader.join().expect("reader")),
        hash(&bytes[12_345..12_345 + len])
    );
    assert_eq!(
        src.stream_position().expect("position"),
        12_345 + len as u64,
        "the source offset moves past what was copied"
    );
}

#[test]
fn mmap_copies_what_the_source_grew_by_during_the_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(4 << 20, 21);
    let src = file_with(dir.path(), "src", &bytes);
    let growth = data(10_000, 22);
    let mut source_for_appending = OpenOptions::new()
        .append(true)
        .open(dir.path().join("src"))
        .expect("open for appending");
    let pipe = Pipe::with_capacity(64 << 10).expect("pipe");
    let mut reader = File::from(pipe.reader);
    let tail = growth.clone();
    // The reader appends to the source once it has the first bytes; the copier still has
    // megabytes to write into the 64 KiB pipe then, so the growth happens mid-copy.
    let reader = std::thread::spawn(move || {
        let mut all = vec![0u8; 4096];
        reader.read_exact(&mut all).expect("first bytes");
        source_for_appending.write_all(&tail).expect("append");
        reader.read_to_end(&mut all).expect("drain");
        all
    });
    let opts = TransferOptions {
        method: Some(Method::Mmap),
        pipe_size: PipeSize::Keep,
    };
    let stats = transfer_with(&src, &pipe.writer, None, &opts).expect("transfer");
    drop(pipe.writer);
    let received = reader.join().expect("reader");
    let mut expected = bytes;
    expected.extend_from_slice(&growth);
    assert_eq!(stats.bytes, expected.len() as u64);
    assert_eq!(hash(&received), hash(&expected));
}

#[test]
fn inspect_tells_local_peers() {
    let (ours, _theirs) = UnixStream::pair().expect("socket pair");
    let info = inspect(&ours).expect("inspect");
    assert!(info.local_peer, "a Unix socket pair");
    assert_eq!(info.family, Some(SocketFamily::Unix));
    let (client, server) = loopback_pair();
    let info = inspect(&client).expect("inspect");
    assert!(info.local_peer, "loopback TCP");
    assert_eq!(info.family, Some(SocketFamily::Ipv4));
    assert!(
        inspect(&server).expect("inspect").local_peer,
        "loopback TCP"
    );
    // Not connected: no peer to be local.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    assert!(
        !inspect(&listener).expect("inspect").local_peer,
        "a listener"
    );
    let pipe = Pipe::new().expect("pipe");
    let info = inspect(&pipe.writer).expect("inspect");
    assert!(!info.local_peer, "a pipe");
    assert_eq!(info.family, None);
}

#[test]
fn socket_to_file_and_socket_to_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    for method in STREAM_SOURCE {
        for (i, &size) in SIZES.iter().enumerate() {
            let bytes = data(size, i as u64 + 19);
            let (theirs, ours) = UnixStream::pair().expect("socket pair");
            let feeder = feed(theirs, bytes.clone());
            let dst_path = dir.path().join("dst");
            let dst = File::create(&dst_path).expect("create");
            // The feeder closes its end when done: the copy ends at EOF.
            let stats = transfer_with(&ours, &dst, None, &options(method)).expect("to file");
            feeder.join().expect("feeder");
            assert_eq!(
                stats.bytes,
                size as u64,
                "socket→file {} {size}",
                label(method)
            );
            let copied = std::fs::read(&dst_path).expect("read back");
            assert_eq!(
                hash(&copied),
                hash(&bytes),
                "socket→file {} {size}",
                label(method)
            );

            let (theirs, ours) = UnixStream::pair().expect("socket pair");
            let (out, far) = UnixStream::pair().expect("socket pair");
            let feeder = feed(theirs, bytes.clone());
            let reader = drain(far);
            let stats = transfer_with(&ours, &out, None, &options(method)).expect("to socket");
            drop(out);
            feeder.join().expect("feeder");
            assert_eq!(
                stats.bytes,
                size as u64,
                "socket→socket {} {size}",
                label(method)
            );
            let received = reader.join().expect("reader");
            assert_eq!(
                hash(&received),
                hash(&bytes),
                "socket→socket {} {size}",
                label(method)
            );
        }
    }
}

#[test]
fn non_blocking_destinations_wait_instead_of_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data((2 << 20) + 5, 23);
    for method in FILE_TO_ANY {
        // A pipe: the slow reader makes the writer hit EAGAIN many times.
        let src = file_with(dir.path(), "src", &bytes);
        let pipe = Pipe::new().expect("pipe");
        set_nonblocking(&pipe.writer);
        let mut slow = File::from(pipe.reader);
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = vec![0u8; 4096];
            loop {
                let n = slow.read(&mut buf).expect("read");
                if n == 0 {
                    return all;
                }
                all.extend_from_slice(&buf[..n]);
                if all.len() % (256 << 10) < 4096 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let stats = transfer_with(&src, &pipe.writer, None, &options(method)).expect("to pipe");
        drop(pipe.writer);
        assert_eq!(stats.bytes, bytes.len() as u64, "{}", label(method));
        assert_eq!(reader.join().expect("reader"), bytes, "{}", label(method));

        // A socket.
        let src = file_with(dir.path(), "src", &bytes);
        let (ours, theirs) = UnixStream::pair().expect("socket pair");
        ours.set_nonblocking(true).expect("nonblocking");
        let reader = drain(theirs);
        let stats = transfer_with(&src, &ours, None, &options(method)).expect("to socket");
        drop(ours);
        assert_eq!(stats.bytes, bytes.len() as u64, "{}", label(method));
        assert_eq!(reader.join().expect("reader"), bytes, "{}", label(method));
    }
}

#[test]
fn non_blocking_source_pipe_waits_for_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(500_000, 29);
    for method in STREAM_SOURCE {
        let src = Pipe::new().expect("pipe");
        set_nonblocking(&src.reader);
        let mut writer = File::from(src.writer);
        let chunks = bytes.clone();
        let feeder = std::thread::spawn(move || {
            for chunk in chunks.chunks(50_000) {
                writer.write_all(chunk).expect("feed");
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let dst_path = dir.path().join("dst");
        let dst = File::create(&dst_path).expect("create");
        let stats = transfer_with(&src.reader, &dst, None, &options(method)).expect("copy");
        feeder.join().expect("feeder");
        assert_eq!(stats.bytes, bytes.len() as u64, "{}", label(method));
        assert_eq!(std::fs::read(&dst_path).expect("read back"), bytes);
    }
}

#[test]
fn a_length_copies_exactly_that_and_advances_the_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(200_000, 31);
    let methods = [Some(Method::CopyFileRange)].into_iter().chain(FILE_TO_ANY);
    for method in methods {
        let mut src = file_with(dir.path(), "src", &bytes);
        let dst_path = dir.path().join("dst");
        let dst = File::create(&dst_path).expect("create");
        let first = transfer_with(&src, &dst, Some(70_001), &options(method)).expect("first");
        assert_eq!(first.bytes, 70_001, "{}", label(method));
        assert_eq!(
            src.stream_position().expect("position"),
            70_001,
            "{}",
            label(method)
        );
        let rest = transfer_with(&src, &dst, None, &options(method)).expect("rest");
        assert_eq!(rest.bytes, 200_000 - 70_001, "{}", label(method));
        assert_eq!(std::fs::read(&dst_path).expect("read back"), bytes);
        // A length past the end stops at the end.
        src.seek(SeekFrom::Start(150_000)).expect("seek");
        let sink = File::create(dir.path().join("tail")).expect("create");
        let tail = transfer_with(&src, &sink, Some(1 << 30), &options(method)).expect("tail");
        assert_eq!(tail.bytes, 50_000, "{}", label(method));
    }
}

#[test]
fn append_destination_is_copied_with_read_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(100_000, 37);
    let src = file_with(dir.path(), "src", &bytes);
    let dst_path = dir.path().join("log");
    std::fs::write(&dst_path, b"head").expect("write");
    let dst = OpenOptions::new()
        .append(true)
        .open(&dst_path)
        .expect("open append");
    let stats = transfer(&src, &dst, None).expect("transfer");
    assert_eq!(stats.method, Method::ReadWrite);
    let mut expected = b"head".to_vec();
    expected.extend_from_slice(&bytes);
    assert_eq!(std::fs::read(&dst_path).expect("read back"), expected);

    let src = file_with(dir.path(), "src", &bytes);
    let err = transfer_with(&src, &dst, None, &options(Some(Method::CopyFileRange)))
        .expect_err("copy_file_range into O_APPEND");
    assert!(err.to_string().contains("O_APPEND"), "{err}");
}

#[test]
fn forced_methods_that_cannot_apply_are_refused_before_copying() {
    let pipe = Pipe::new().expect("pipe");
    let dir = tempfile::tempdir().expect("tempdir");
    let dst = File::create(dir.path().join("dst")).expect("create");
    for method in [Method::CopyFileRange, Method::Sendfile, Method::Mmap] {
        let err = transfer_with(&pipe.reader, &dst, None, &options(Some(method)))
            .expect_err("a pipe source");
        match &err {
            ZeroCopyError::Unsupported {
                src, alternatives, ..
            } => {
                assert_eq!(*src, FdKind::Pipe);
                assert_eq!(alternatives, "splice, read-write");
            }
            other => panic!("{method}: {other}"),
        }
    }
}

#[test]
fn the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = file_with(dir.path(), "same", b"abc");
    let dst = OpenOptions::new()
        .write(true)
        .open(dir.path().join("same"))
        .expect("open");
    let err = transfer(&src, &dst, None).expect_err("same file");
    assert!(matches!(err, ZeroCopyError::SameFile), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("same")).expect("read"),
        b"abc"
    );
}

/// `copy_file_range` between tmpfs (/dev/shm) and the disk: a kernel that refuses it across
/// filesystems (EXDEV) makes the automatic choice fall back, and remember.
#[test]
fn copy_file_range_across_filesystems_falls_back() {
    let shm = Path::new("/dev/shm");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir on disk");
    let (Ok(src_info), Ok(dst_info)) = (std::fs::metadata(shm), std::fs::metadata(dir.path()))
    else {
        eprintln!("skipped: /dev/shm is missing");
        return;
    };
    if src_info.dev() == dst_info.dev() {
        eprintln!("skipped: /dev/shm and the target directory are on one filesystem");
        return;
    }
    let shm_dir = tempfile::tempdir_in(shm).expect("tempdir in /dev/shm");
    let bytes = data(300_000, 41);
    forget_refusals();
    let mut fallbacks = Vec::new();
    for round in 0..2 {
        let src = file_with(shm_dir.path(), "src", &bytes);
        let dst_path = dir.path().join(format!("dst{round}"));
        let dst = File::create(&dst_path).expect("create");
        let stats = transfer(&src, &dst, None).expect("transfer");
        assert_eq!(std::fs::read(&dst_path).expect("read back"), bytes);
        fallbacks.push(stats.fallbacks);
    }
    if fallbacks[0].is_empty() {
        eprintln!("note: this kernel copies across filesystems with copy_file_range");
        return;
    }
    let first = &fallbacks[0][0];
    assert_eq!(first.method, Method::CopyFileRange);
    assert!(first.reason.contains("EXDEV"), "{first:?}");
    assert!(!first.remembered);
    assert!(fallbacks[1][0].remembered, "{:?}", fallbacks[1]);
}

/// A "regular file" that reports size 0 and lives on another filesystem (procfs):
/// `copy_file_range` refuses it, the automatic choice falls back and still copies it all.
#[test]
fn a_procfs_source_falls_back_to_a_method_that_works() {
    let src = File::open("/proc/self/mountinfo").expect("procfs");
    assert_eq!(inspect(&src).expect("inspect").kind, FdKind::File);
    let dir = tempfile::tempdir().expect("tempdir");
    let dst_path = dir.path().join("mountinfo");
    let dst = File::create(&dst_path).expect("create");
    let stats = transfer(&src, &dst, None).expect("transfer");
    let copied = std::fs::read_to_string(&dst_path).expect("read back");
    assert!(copied.contains(" / "), "{copied}");
    assert_eq!(stats.bytes, copied.len() as u64);
    assert_ne!(stats.method, Method::CopyFileRange, "{stats:?}");
    assert_eq!(
        stats.fallbacks[0].method,
        Method::CopyFileRange,
        "{stats:?}"
    );
}

#[test]
fn owned_descriptors_work_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(10_000, 43);
    let src: OwnedFd = file_with(dir.path(), "src", &bytes).into();
    let dst_path = dir.path().join("dst");
    let dst: OwnedFd = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&dst_path)
        .expect("create")
        .into();
    transfer(&src, &dst, None).expect("transfer");
    assert_eq!(std::fs::read(&dst_path).expect("read back"), bytes);
}
