//! `ObjectPool`: reusable objects (buffers, parsers, connections) handed out behind an RAII
//! guard, without a lock: idle objects wait in a lock-free bounded queue.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

type Factory<T> = Box<dyn Fn() -> T + Send + Sync>;
type Reset<T> = Box<dyn Fn(&mut T) + Send + Sync>;

/// A pool of reusable `T`s. [`acquire`](ObjectPool::acquire) takes an idle one or makes a new
/// one with the factory; dropping the guard resets it (if a reset was given) and keeps it for
/// the next `acquire`, unless `max_idle` are already kept, in which case it is dropped.
///
/// ```
/// use perfkit_pool::ObjectPool;
///
/// let buffers = ObjectPool::new(|| Vec::<u8>::with_capacity(4096), 16).with_reset(Vec::clear);
/// {
///     let mut buf = buffers.acquire();
///     buf.extend_from_slice(b"hello");
/// } // back in the pool, cleared
/// assert!(buffers.acquire().is_empty());
/// assert_eq!(buffers.stats().created, 1);
/// ```
pub struct ObjectPool<T> {
    idle: ArrayQueue<T>,
    factory: Factory<T>,
    reset: Option<Reset<T>>,
    created: AtomicU64,
    reused: AtomicU64,
    dropped: AtomicU64,
}

/// What an [`ObjectPool`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectPoolStats {
    /// Objects made by the factory.
    pub created: u64,
    /// Acquisitions served by an idle object.
    pub reused: u64,
    /// Returned objects dropped because `max_idle` were already kept.
    pub dropped: u64,
    /// Objects idle now.
    pub idle: usize,
}

impl<T> ObjectPool<T> {
    /// A pool that keeps at most `max_idle` idle objects (at least 1) and makes new ones
    /// with `factory`.
    pub fn new<F>(factory: F, max_idle: usize) -> ObjectPool<T>
    where
        F: Fn() -> T + Send + Sync + 'static,
    {
        ObjectPool {
            idle: ArrayQueue::new(max_idle.max(1)),
            factory: Box::new(factory),
            reset: None,
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Runs `reset` on every object given back, before it is kept.
    #[must_use]
    pub fn with_reset<R>(mut self, reset: R) -> ObjectPool<T>
    where
        R: Fn(&mut T) + Send + Sync + 'static,
    {
        self.reset = Some(Box::new(reset));
        self
    }

    /// Makes `n` objects now (up to `max_idle`), so the first acquisitions do not wait for
    /// the factory.
    pub fn prefill(&self, n: usize) {
        for _ in 0..n {
            let object = (self.factory)();
            self.created.fetch_add(1, Ordering::Relaxed);
            if self.idle.push(object).is_err() {
                break;
            }
        }
    }

    /// An idle object, or a new one.
    pub fn acquire(&self) -> Pooled<'_, T> {
        let object = if let Some(object) = self.idle.pop() {
            self.reused.fetch_add(1, Ordering::Relaxed);
            object
        } else {
            self.created.fetch_add(1, Ordering::Relaxed);
            (self.factory)()
        };
        Pooled {
            object: Some(object),
            pool: self,
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> ObjectPoolStats {
        ObjectPoolStats {
            created: self.created.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            idle: self.idle.len(),
        }
    }

    fn give_back(&self, mut object: T) {
        if let Some(reset) = &self.reset {
            reset(&mut object);
        }
        if self.idle.push(object).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<T> fmt::Debug for ObjectPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectPool")
            .field("stats", &self.stats())
            .field("max_idle", &self.idle.capacity())
            .finish_non_exhaustive()
    }
}

/// An object on loan from an [`ObjectPool`]; it goes back when dropped.
pub struct Pooled<'a, T> {
    object: Option<T>,
    pool: &'a ObjectPool<T>,
}

impl<T> Pooled<'_, T> {
    /// Keeps the object instead of giving it back.
    #[must_use]
    pub fn detach(mut self) -> T {
        self.object
            .take()
            .unwrap_or_else(|| unreachable!("the object is only taken here or in drop"))
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.object
            .as_ref()
            .unwrap_or_else(|| unreachable!("the object is only taken by detach or drop"))
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.object
            .as_mut()
            .unwrap_or_else(|| unreachable!("the object is only taken by detach or drop"))
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            self.pool.give_back(object);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pooled").field(&self.object).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_reused_reset_and_bounded() {
        let pool = ObjectPool::new(Vec::<u8>::new, 2).with_reset(Vec::clear);
        {
            let mut a = pool.acquire();
            let mut b = pool.acquire();
            let mut c = pool.acquire();
            a.push(1);
            b.push(2);
            c.push(3);
        }
        let stats = pool.stats();
        assert_eq!(stats.created, 3);
        assert_eq!(stats.idle, 2);
        assert_eq!(stats.dropped, 1);
        let again = pool.acquire();
        assert!(again.is_empty(), "reset on return");
        assert_eq!(pool.stats().reused, 1);
        let kept = again.detach();
        assert!(kept.is_empty());
        assert_eq!(pool.stats().idle, 1);
    }

    #[test]
    fn threads_share_a_pool() {
        let pool = ObjectPool::new(|| 0u64, 4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        *pool.acquire() += 1;
                    }
                });
            }
        });
        let stats = pool.stats();
        assert_eq!(stats.created + stats.reused, 4000);
        assert!(stats.created <= 4 + stats.dropped);
    }
}
