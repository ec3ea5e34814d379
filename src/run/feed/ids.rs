//! The contacts' ids seen so far in a feed, to refuse a repeated one.
//!
//! Holding every id of a feed of millions costs more than the rest of a
//! run. A first pass over the feed (the bad-row screen) keeps only a
//! 64-bit hash of each id (about 12 bytes a contact with the set's own
//! room; with the first line as well it was twice that, the largest part
//! of a run's memory at three million contacts); a hash seen twice is
//! reported as a duplicate and remembered. The run's own pass keeps whole
//! only the ids with such a hash, so what it refuses is exact and names
//! the first line. Two different ids share a hash with odds of about one
//! in 4 million for a feed of 3 million contacts; then the screen counts
//! one bad row too many, and the run still takes both.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hasher};

pub(super) enum Ids {
    /// Every id, exactly, with its first line.
    Exact(HashMap<String, usize>),
    /// A hash of every id.
    Hashed {
        seen: HashSet<u64, BuildHasherDefault<Spread>>,
        repeated: HashSet<u64>,
    },
    /// Whole ids only for the hashes a first pass saw `repeated`.
    Screened {
        repeated: HashSet<u64>,
        exact: HashMap<String, usize>,
    },
}

impl Ids {
    pub(super) fn hashed() -> Self {
        Ids::Hashed {
            seen: HashSet::default(),
            repeated: HashSet::new(),
        }
    }

    /// Whether `id` was seen before, and on which line when that is
    /// known (the screen's hashes keep no lines); otherwise notes that it
    /// is on `line`.
    pub(super) fn repeat(&mut self, id: &str, line: usize) -> Option<Option<usize>> {
        match self {
            Ids::Exact(first) => exact(first, id, line).map(Some),
            Ids::Hashed { seen, repeated } => {
                let hash = hash(id);
                if seen.insert(hash) {
                    return None;
                }
                repeated.insert(hash);
                Some(None)
            }
            Ids::Screened {
                repeated,
                exact: ids,
            } => {
                if repeated.contains(&hash(id)) {
                    exact(ids, id, line).map(Some)
                } else {
                    None
                }
            }
        }
    }
}

fn exact(first: &mut HashMap<String, usize>, id: &str, line: usize) -> Option<usize> {
    if let Some(first) = first.get(id) {
        return Some(*first);
    }
    first.insert(id.to_string(), line);
    None
}

/// SipHash with fixed keys: the same id hashes the same in both passes.
fn hash(id: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
}

/// The map's own hasher over keys that are already hashes: it keeps them.
#[derive(Default)]
pub(super) struct Spread(u64);

impl Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_passes_find_the_same_duplicates() {
        let ids = ["a", "b", "a", "c", "b", "a"];
        let mut first = Ids::hashed();
        let found: Vec<_> = (1..).zip(ids).map(|(l, id)| first.repeat(id, l)).collect();
        assert_eq!(
            found,
            [None, None, Some(None), None, Some(None), Some(None)]
        );
        let Ids::Hashed { repeated, .. } = first else {
            unreachable!()
        };
        assert_eq!(repeated.len(), 2);
        let mut second = Ids::Screened {
            repeated,
            exact: HashMap::new(),
        };
        let again: Vec<_> = (1..).zip(ids).map(|(l, id)| second.repeat(id, l)).collect();
        assert_eq!(
            again,
            [
                None,
                None,
                Some(Some(1)),
                None,
                Some(Some(2)),
                Some(Some(1))
            ]
        );
        let Ids::Screened { exact, .. } = second else {
            unreachable!()
        };
        assert_eq!(exact.len(), 2, "only the repeated ids are kept whole");
    }
}
