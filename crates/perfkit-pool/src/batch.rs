//! The pool's units of work and of results: tasks travel as runs of consecutive tasks sharing
//! one buffer (`Chunk`), results come back as blocks sharing one buffer (`Block`), so that the
//! hot path does per-batch bookkeeping, not per-task: no allocation, reference count or
//! channel operation per task.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::TaskError;
use crate::task::{Meta, Outcome, TaskId};

/// The inputs of a run of tasks: their bytes back to back (under 4 GiB), and where each
/// ends.
#[derive(Clone, Debug)]
pub(crate) struct Inputs {
    pub(crate) data: Bytes,
    pub(crate) ends: Arc<Vec<u32>>,
}

impl Inputs {
    /// One task's input.
    pub(crate) fn single(input: Bytes) -> Inputs {
        // A single task is at most `MAX_FRAME` (1 GiB), so its length fits.
        let len = u32::try_from(input.len()).unwrap_or(u32::MAX);
        Inputs {
            data: input,
            ends: Arc::new(vec![len]),
        }
    }

    /// The bytes of task `i`.
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }
}

/// Consecutive tasks waiting in the queue (or, in a dispatcher, sent together): tasks
/// `range` of `inputs`, the first of them with id `first_id`. A task that went wrong before
/// travels alone, with its `meta`.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    pub(crate) first_id: TaskId,
    pub(crate) inputs: Inputs,
    pub(crate) range: Range<usize>,
    pub(crate) meta: Meta,
}

impl Chunk {
    pub(crate) fn len(&self) -> usize {
        self.range.len()
    }

    /// Splits off the first `n` tasks.
    pub(crate) fn take_front(&mut self, n: usize) -> Chunk {
        let n = n.min(self.len());
        let front = Chunk {
            first_id: self.first_id,
            inputs: self.inputs.clone(),
            range: self.range.start..self.range.start + n,
            meta: self.meta,
        };
        self.first_id += n as u64;
        self.range.start += n;
        front
    }

    /// Each task alone, with its id (for re-sending and cancelling).
    pub(crate) fn split(self) -> impl Iterator<Item = Chunk> {
        let Chunk {
            first_id,
            inputs,
            range,
            meta,
        } = self;
        range.enumerate().map(move |(k, i)| Chunk {
            first_id: first_id + k as u64,
            inputs: inputs.clone(),
            range: i..i + 1,
            meta,
        })
    }

    /// The ids of its tasks.
    pub(crate) fn ids(&self) -> Range<TaskId> {
        self.first_id..self.first_id + self.len() as u64
    }
}

/// Where one result is in a block's buffer, and whether it is an output or an error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) ok: bool,
}

impl Span {
    /// Its bytes in the buffer.
    pub(crate) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Finished tasks handed from a dispatcher to the receivers.
#[derive(Debug)]
pub(crate) enum Block {
    /// Results of consecutive tasks, `first_id` and on, in one buffer; `next` of them were
    /// delivered already.
    Results {
        first_id: TaskId,
        data: Bytes,
        spans: Vec<Span>,
        next: usize,
    },
    /// One task on its own: a failure (crash, timeout, quarantine, cancellation), or an
    /// outcome a receiver took and gave back. `None` once delivered.
    One(Option<Outcome>),
}

/// Tasks of a results block on their way out. They count as delivered only once
/// [`Undelivered::delivered`] says so, after the caller has handed them on: a callback that
/// panics half-way leaves the block as it was.
struct Undelivered<'a> {
    data: &'a Bytes,
    spans: &'a [Span],
    first_id: TaskId,
    next: &'a mut usize,
}

impl Undelivered<'_> {
    /// Each task's span and id, in order.
    fn iter(&self) -> impl Iterator<Item = (&Span, TaskId)> {
        self.spans.iter().zip(self.first_id..)
    }

    /// Marks the tasks delivered; returns how many there were.
    fn delivered(self) -> usize {
        *self.next += self.spans.len();
        self.spans.len()
    }
}

impl Block {
    /// The id of its first undelivered task.
    pub(crate) fn first_id(&self) -> TaskId {
        match self {
            Block::Results { first_id, next, .. } => first_id + *next as u64,
            Block::One(outcome) => outcome.as_ref().map_or(0, |o| o.id),
        }
    }

    /// Undelivered tasks in it.
    pub(crate) fn len(&self) -> usize {
        match self {
            Block::Results { spans, next, .. } => spans.len() - next,
            Block::One(outcome) => usize::from(outcome.is_some()),
        }
    }

    /// Calls `f` for up to `max` undelivered tasks, in order; returns how many.
    pub(crate) fn visit<F>(&mut self, max: usize, f: &mut F) -> usize
    where
        F: FnMut(TaskId, Result<&[u8], &TaskError>) + ?Sized,
    {
        if let Some(results) = self.undelivered(max) {
            for (span, id) in results.iter() {
                let bytes = &results.data[span.range()];
                if span.ok {
                    f(id, Ok(bytes));
                } else {
                    let error = TaskError::Worker(String::from_utf8_lossy(bytes).into_owned());
                    f(id, Err(&error));
                }
            }
            return results.delivered();
        }
        let Some(outcome) = self.take_one(max) else {
            return 0;
        };
        match &outcome.result {
            Ok(bytes) => f(outcome.id, Ok(bytes)),
            Err(error) => f(outcome.id, Err(error)),
        }
        1
    }

    /// Moves up to `max` undelivered tasks out as `Outcome`s; returns how many.
    pub(crate) fn drain_into(&mut self, max: usize, out: &mut Vec<Outcome>) -> usize {
        if let Some(results) = self.undelivered(max) {
            out.extend(results.iter().map(|(span, id)| {
                let bytes = results.data.slice(span.range());
                let result = if span.ok {
                    Ok(bytes)
                } else {
                    Err(TaskError::Worker(
                        String::from_utf8_lossy(&bytes).into_owned(),
                    ))
                };
                Outcome { id, result }
            }));
            return results.delivered();
        }
        let before = out.len();
        out.extend(self.take_one(max));
        out.len() - before
    }

    /// For a block of results, up to `max` of its undelivered tasks; `None` for a single task.
    fn undelivered(&mut self, max: usize) -> Option<Undelivered<'_>> {
        let Block::Results {
            first_id,
            data,
            spans,
            next,
        } = self
        else {
            return None;
        };
        let from = *next;
        let n = (spans.len() - from).min(max);
        Some(Undelivered {
            data,
            spans: &spans[from..from + n],
            first_id: *first_id + from as u64,
            next,
        })
    }

    /// A single task's outcome, taken out, when `max` allows one.
    fn take_one(&mut self, max: usize) -> Option<Outcome> {
        match self {
            Block::One(outcome) if max > 0 => outcome.take(),
            _ => None,
        }
    }
}

/// Blocks waiting for receivers, with the count of tasks in them.
#[derive(Debug, Default)]
pub(crate) struct Ready {
    pub(crate) blocks: VecDeque<Block>,
    pub(crate) tasks: usize,
}

impl Ready {
    pub(crate) fn push(&mut self, block: Block) {
        self.tasks += block.len();
        self.blocks.push_back(block);
    }

    /// Calls `f` for up to `max` ready tasks; returns how many.
    pub(crate) fn visit<F>(&mut self, max: usize, f: &mut F) -> usize
    where
        F: FnMut(TaskId, Result<&[u8], &TaskError>) + ?Sized,
    {
        self.consume(max, |block, n| block.visit(n, f))
    }

    /// Moves up to `max` ready tasks into `out`; returns how many.
    pub(crate) fn drain_into(&mut self, max: usize, out: &mut Vec<Outcome>) -> usize {
        self.consume(max, |block, n| block.drain_into(n, out))
    }

    /// Takes up to `max` tasks from the front blocks with `take(block, at_most)`, dropping
    /// blocks it empties.
    fn consume(&mut self, max: usize, mut take: impl FnMut(&mut Block, usize) -> usize) -> usize {
        let mut done = 0;
        while done < max {
            let Some(front) = self.blocks.front_mut() else {
                break;
            };
            done += take(front, max - done);
            if front.len() == 0 {
                self.blocks.pop_front();
            }
        }
        self.tasks -= done;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three results of tasks 7, 8 and 9 ("a", a failure "bad", "cc"), none delivered.
    fn three() -> Block {
        let span = |start, end, ok| Span { start, end, ok };
        Block::Results {
            first_id: 7,
            data: Bytes::from_static(b"abadcc"),
            spans: vec![span(0, 1, true), span(1, 4, false), span(4, 6, true)],
            next: 0,
        }
    }

    #[test]
    fn results_are_visited_and_drained_with_their_ids_up_to_max() {
        let mut block = three();
        let mut seen = Vec::new();
        let n = block.visit(2, &mut |id, r| {
            seen.push((id, r.map(<[u8]>::to_vec).map_err(ToString::to_string)));
        });
        assert_eq!(n, 2);
        assert_eq!(seen[0], (7, Ok(b"a".to_vec())));
        assert_eq!(seen[1].0, 8);
        assert!(seen[1].1.as_ref().is_err_and(|e| e.contains("bad")));
        assert_eq!((block.len(), block.first_id()), (1, 9));
        let mut out = Vec::new();
        assert_eq!(block.drain_into(5, &mut out), 1);
        assert_eq!(
            (out[0].id, out[0].result.as_deref().ok()),
            (9, Some(&b"cc"[..]))
        );
        assert_eq!((block.len(), block.visit(5, &mut |_, _| {})), (0, 0));
        let mut one = Block::One(Some(out.remove(0)));
        assert_eq!(one.visit(0, &mut |_, _| {}), 0);
        assert_eq!(one.drain_into(1, &mut out), 1);
        assert_eq!(one.drain_into(1, &mut out), 0);
    }

    #[test]
    fn a_callback_that_panics_leaves_the_block_undelivered() {
        let mut block = three();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block.visit(3, &mut |id, _| assert_ne!(id, 8, "the callback fails"));
        }));
        assert!(panicked.is_err());
        assert_eq!((block.len(), block.first_id()), (3, 7));
    }
}
