//! Which batches of a source that sends ahead ([`Order`]) may be accounted: a batch only
//! after its predecessor, so a checkpoint never moves past a batch that was refused.
//!
//! The pipeline processes batches in the order they arrive and commits them in that order,
//! but a batch can be refused (its commit failed) while the ones after it are already on
//! their way. Committing one of those would store its checkpoint, past the refused lines:
//! after a restart they would never be read. So a batch is admitted only when the batch
//! before it in its stream was committed, or accounted ahead of it into a commit not yet
//! done (if that commit fails, everything accounted since the last commit is undone and
//! admitted again, or refused, from the committed state).

use std::collections::HashMap;

use crate::batch::Order;

/// The last batch of each stream committed, and the last accounted (committed or not).
#[derive(Default)]
pub(super) struct Sequences {
    committed: HashMap<u64, u64>,
    accounted: HashMap<u64, u64>,
}

impl Sequences {
    /// Whether a batch at `order` may be accounted now; if so, it is (its successor is
    /// admitted next). A batch with no order is always admitted.
    pub fn admit(&mut self, order: Option<Order>) -> bool {
        let Some(Order { stream, seq }) = order else {
            return true;
        };
        let follows = seq == 0 || self.accounted.get(&stream) == Some(&(seq - 1));
        if follows {
            self.accounted.insert(stream, seq);
        }
        follows
    }

    /// The batch at `order` was committed.
    pub fn committed(&mut self, order: Option<Order>) {
        if let Some(Order { stream, seq }) = order {
            self.committed.insert(stream, seq);
        }
    }

    /// A commit failed: every batch accounted since the last commit is undone, so only the
    /// committed ones are followed.
    pub fn rollback(&mut self) {
        self.accounted.clone_from(&self.committed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stream: u64, seq: u64) -> Option<Order> {
        Some(Order { stream, seq })
    }

    #[test]
    fn a_batch_follows_only_its_predecessor() {
        let mut s = Sequences::default();
        assert!(s.admit(None));
        assert!(!s.admit(at(1, 1)), "nothing before it was accounted");
        assert!(s.admit(at(1, 0)));
        assert!(
            s.admit(at(1, 1)),
            "accounted ahead of a commit not yet done"
        );
        assert!(!s.admit(at(1, 3)), "2 is missing");
        assert!(s.admit(at(2, 0)), "streams are apart");
    }

    #[test]
    fn after_a_failed_commit_only_committed_batches_are_followed() {
        let mut s = Sequences::default();
        assert!(s.admit(at(1, 0)));
        s.committed(at(1, 0));
        assert!(s.admit(at(1, 1)));
        assert!(s.admit(at(1, 2)));
        s.rollback(); // 1 and 2 were undone
        assert!(!s.admit(at(1, 2)), "its predecessor was refused");
        assert!(s.admit(at(1, 1)), "sent again");
        s.committed(at(1, 1));
        assert!(s.admit(at(1, 2)));
        s.committed(at(1, 2));
        s.rollback();
        assert!(s.admit(at(1, 3)));
    }
}
