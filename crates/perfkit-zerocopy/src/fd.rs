//! What a descriptor is: the input of the automatic method choice.

use std::fmt;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage, getpeername, getsockname};
use nix::sys::stat::{SFlag, fstat};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ZeroCopyError};

/// The kind of file a descriptor refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FdKind {
    /// A regular file.
    File,
    /// A pipe or FIFO.
    Pipe,
    /// A socket (TCP, Unix, ...).
    Socket,
    /// A character device (`/dev/null`, a terminal, ...).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A directory (nothing can be copied to or from it).
    Directory,
    /// Anything else (a symlink descriptor opened with `O_PATH`, ...).
    Other,
}

impl fmt::Display for FdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FdKind::File => "regular file",
            FdKind::Pipe => "pipe",
            FdKind::Socket => "socket",
            FdKind::CharDevice => "character device",
            FdKind::BlockDevice => "block device",
            FdKind::Directory => "directory",
            FdKind::Other => "special file",
        })
    }
}

/// What [`inspect`] learns about a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdInfo {
    /// The kind of file.
    pub kind: FdKind,
    /// The device the file lives on (`st_dev`): `copy_file_range` may refuse across devices.
    pub dev: u64,
    /// The inode number (`st_ino`): with `dev`, identifies the file.
    pub ino: u64,
    /// The size in bytes (regular files; 0 for others).
    pub size: u64,
    /// Opened with `O_NONBLOCK`: calls may return `EAGAIN`, which the copy loops wait out.
    pub nonblocking: bool,
    /// Opened with `O_APPEND`: `copy_file_range`, `sendfile` and `splice` refuse to write to it.
    pub append: bool,
    /// For a socket, its address family; `None` for everything else.
    pub family: Option<SocketFamily>,
    /// A socket whose peer is on this host: a Unix socket, or an IP socket connected to a
    /// loopback address or to its own address. `false` for everything else, and for a socket
    /// whose addresses cannot be read. Its receiver copies whatever it is sent, zero-copy or
    /// not, which changes the fastest way to send (see [`transfer`](crate::transfer)).
    pub local_peer: bool,
}

impl FdInfo {
    /// Whether both descriptors name the same file (same device and inode).
    #[must_use]
    pub fn same_file(&self, other: &FdInfo) -> bool {
        self.kind == FdKind::File
            && other.kind == FdKind::File
            && self.dev == other.dev
            && self.ino == other.ino
    }
}

/// Looks at a descriptor: `fstat` and its status flags.
pub fn inspect(fd: impl AsFd) -> Result<FdInfo> {
    let fd = fd.as_fd();
    let stat = fstat(fd).map_err(|e| ZeroCopyError::Syscall {
        call: "fstat",
        moved: 0,
        source: e.into(),
    })?;
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| ZeroCopyError::Syscall {
        call: "fcntl(F_GETFL)",
        moved: 0,
        source: e.into(),
    })?;
    let flags = OFlag::from_bits_truncate(flags);
    let kind = kind_of(stat.st_mode);
    let (family, local_peer) = if kind == FdKind::Socket {
        let (family, local_peer) = socket_of(fd);
        (Some(family), local_peer)
    } else {
        (None, false)
    };
    Ok(FdInfo {
        kind,
        dev: stat.st_dev,
        ino: stat.st_ino,
        size: if kind == FdKind::File {
            u64::try_from(stat.st_size).unwrap_or(0)
        } else {
            0
        },
        nonblocking: flags.contains(OFlag::O_NONBLOCK),
        append: flags.contains(OFlag::O_APPEND),
        family,
        local_peer,
    })
}

/// The address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketFamily {
    /// `AF_UNIX`: a Unix-domain socket.
    Unix,
    /// `AF_INET`: IPv4.
    Ipv4,
    /// `AF_INET6`: IPv6.
    Ipv6,
    /// Any other family (netlink, vsock, ...), or one that could not be read.
    Other,
}

/// A socket's address family, and whether its peer is on this host (see
/// [`FdInfo::local_peer`]): one `getsockname` and one `getpeername`.
fn socket_of(fd: BorrowedFd<'_>) -> (SocketFamily, bool) {
    let raw = fd.as_raw_fd();
    let Ok(ours) = getsockname::<SockaddrStorage>(raw) else {
        return (SocketFamily::Other, false);
    };
    let family = match ours.family() {
        Some(AddressFamily::Unix) => SocketFamily::Unix,
        Some(AddressFamily::Inet) => SocketFamily::Ipv4,
        Some(AddressFamily::Inet6) => SocketFamily::Ipv6,
        _ => SocketFamily::Other,
    };
    let Ok(theirs) = getpeername::<SockaddrStorage>(raw) else {
        return (family, false);
    };
    if theirs.as_unix_addr().is_some() || ours.as_unix_addr().is_some() {
        return (family, true);
    }
    let ip = |addr: &SockaddrStorage| -> Option<IpAddr> {
        addr.as_sockaddr_in()
            .map(|a| IpAddr::V4(a.ip()))
            .or_else(|| addr.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())))
            .map(|ip| match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                v4 @ IpAddr::V4(_) => v4,
            })
    };
    let local = match (ip(&ours), ip(&theirs)) {
        (Some(ours), Some(theirs)) => theirs.is_loopback() || theirs == ours,
        _ => false,
    };
    (family, local)
}

fn kind_of(mode: libc::mode_t) -> FdKind {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => FdKind::File,
        SFlag::S_IFIFO => FdKind::Pipe,
        SFlag::S_IFSOCK => FdKind::Socket,
        SFlag::S_IFCHR => FdKind::CharDevice,
        SFlag::S_IFBLK => FdKind::BlockDevice,
        SFlag::S_IFDIR => FdKind::Directory,
        _ => FdKind::Other,
    }
}
