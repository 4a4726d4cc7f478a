//! The pool workloads, shared by `benches/pool.rs` and `examples/pool_rate.rs`: the classic
//! `ObjectPool` (a `Mutex<VecDeque>`) as the object-pool peer, and the object-pool workload.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// The usual object pool: a mutex around a deque, a factory for misses.
pub struct LockedObjectPool<T> {
    objects: Mutex<VecDeque<T>>,
    factory: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> LockedObjectPool<T> {
    /// `size` objects made up front.
    pub fn new<F>(size: usize, factory: F) -> Self
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        let objects = (0..size).map(|_| factory()).collect();
        LockedObjectPool {
            objects: Mutex::new(objects),
            factory: Box::new(factory),
        }
    }

    /// An object from the pool, or a new one.
    pub fn acquire(&self) -> LockedPooled<'_, T> {
        let object = self
            .objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or_else(|| (self.factory)());
        LockedPooled {
            object: Some(object),
            pool: &self.objects,
        }
    }
}

impl<T> std::fmt::Debug for LockedObjectPool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedObjectPool").finish_non_exhaustive()
    }
}

/// Its guard: returns the object on drop.
pub struct LockedPooled<'a, T> {
    object: Option<T>,
    pool: &'a Mutex<VecDeque<T>>,
}

impl<T> std::ops::Deref for LockedPooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.object.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> std::ops::DerefMut for LockedPooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.object.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<T> std::fmt::Debug for LockedPooled<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockedPooled").finish_non_exhaustive()
    }
}

impl<T> Drop for LockedPooled<'_, T> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            self.pool
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(object);
        }
    }
}

/// Size of the buffers the object-pool workload borrows.
pub const BUFFER: usize = 4096;

/// What each borrow does with its buffer: fill a few hundred bytes and sum them, as code that
/// formats a message into a scratch buffer would.
#[must_use]
pub fn use_buffer(buf: &mut Vec<u8>, round: u64) -> u64 {
    buf.clear();
    for i in 0..256u64 {
        buf.push((round.wrapping_add(i) & 0xff) as u8);
    }
    buf.iter().map(|&b| u64::from(b)).sum()
}
