//! A bound on the task event streams one account holds open on this server: each stream looks at its
//! task every half second, so an account opening thousands would cost the database thousands of
//! queries a second. The slot is given back when the stream ends or its client goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Event streams one account may hold open at once on one server.
pub const PER_ACCOUNT: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct StreamSlots(Arc<Mutex<HashMap<String, usize>>>);

/// An open stream's place, held for as long as the stream lives.
#[derive(Debug)]
pub struct Slot {
    slots: StreamSlots,
    account: String,
}

impl StreamSlots {
    /// A slot for `account`, or none when it holds [`PER_ACCOUNT`] already.
    pub fn take(&self, account: &str) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(account.to_string()).or_default();
        if *count >= PER_ACCOUNT {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: self.clone(),
            account: account.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.account) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_gets_its_slots_back_as_streams_end() {
        let slots = StreamSlots::default();
        let held: Vec<Slot> = (0..PER_ACCOUNT).map(|_| slots.take("a").unwrap()).collect();
        assert!(slots.take("a").is_none(), "one more is refused");
        assert!(slots.take("b").is_some(), "other accounts are not affected");
        drop(held);
        assert!(slots.take("a").is_some());
        assert!(slots.0.lock().unwrap().get("a").is_none_or(|n| *n <= 1));
    }
}
