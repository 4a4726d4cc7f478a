//! Turning the sampled addresses into function names, on an ordinary thread.

use std::collections::HashMap;

use crate::FoldedStacks;

/// A frame whose address resolves to no symbol.
const UNKNOWN: &str = "[unknown]";

/// Function names by address, each address resolved once.
#[derive(Default)]
pub(super) struct Symbols {
    names: HashMap<usize, Vec<String>>,
}

impl Symbols {
    /// The functions at `address`, outermost first (an inlined call gives several). A return
    /// address must be looked up one byte back, inside the call instruction, so that the line
    /// and the inlined frames are those of the call rather than of what follows it.
    /// `backtrace::resolve` takes every address as a return address and steps back itself, so
    /// the interrupted instruction is passed one byte on.
    fn at(&mut self, address: usize, return_address: bool) -> &[String] {
        let lookup = if return_address {
            address
        } else {
            address.saturating_add(1)
        };
        self.names.entry(lookup).or_insert_with(|| {
            let mut names = Vec::new();
            backtrace::resolve(lookup as *mut std::ffi::c_void, |symbol| {
                if let Some(name) = symbol.name() {
                    // `{:#}` drops the hash Rust appends to its symbols.
                    names.push(format!("{name:#}").replace(';', ":"));
                }
            });
            if names.is_empty() {
                names.push(UNKNOWN.to_owned());
            }
            // backtrace reports the innermost inlined function first.
            names.reverse();
            names
        })
    }

    /// Folds `stacks` (the thread's number, then addresses innermost first) into folded
    /// stacks rooted at the thread's name.
    pub(super) fn fold<'a>(
        &mut self,
        stacks: impl IntoIterator<Item = (&'a [usize], u64)>,
        thread_names: &[String],
    ) -> FoldedStacks {
        let mut folded = FoldedStacks::new();
        let mut line = String::new();
        for (key, count) in stacks {
            let Some((&thread, frames)) = key.split_first() else {
                continue;
            };
            line.clear();
            line.push_str(thread_names.get(thread).map_or("[thread]", String::as_str));
            for (i, &address) in frames.iter().enumerate().rev() {
                for name in self.at(address, i > 0) {
                    line.push(';');
                    line.push_str(name);
                }
            }
            folded.add(&line, count);
        }
        folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_with_a_known_name() -> usize {
        a_function_with_a_known_name as *const () as usize
    }

    #[test]
    fn folds_addresses_into_named_frames_rooted_at_the_thread() {
        let mut symbols = Symbols::default();
        let known = a_function_with_a_known_name();
        // The interrupted instruction is the function's first byte; the caller's "return
        // address" is the byte after the start of this test's own symbol.
        let caller = folds_addresses_into_named_frames_rooted_at_the_thread as *const () as usize;
        let key = [0, known, caller + 1];
        let folded = symbols.fold([(&key[..], 3)], &["worker".to_owned()]);
        let text = folded.to_text();
        assert!(text.starts_with("worker;"), "{text}");
        assert!(
            text.contains("folds_addresses_into_named_frames_rooted_at_the_thread;"),
            "{text}"
        );
        assert!(text.contains("a_function_with_a_known_name 3"), "{text}");
        // Nothing resolves at address 1.
        let key = [5, 1];
        let folded = symbols.fold([(&key[..], 1)], &[]);
        assert_eq!(folded.to_text(), "[thread];[unknown] 1\n");
    }
}
