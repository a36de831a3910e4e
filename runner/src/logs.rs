//! The end of a program's output, kept within a fixed size however much it writes.

use std::collections::VecDeque;

/// How much of a program's output is kept: its last 64 KiB.
pub const KEPT_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct Tail {
    bytes: VecDeque<u8>,
    dropped: u64,
}

impl Tail {
    pub fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend(chunk);
        let over = self.bytes.len().saturating_sub(KEPT_BYTES);
        self.bytes.drain(..over);
        self.dropped += over as u64;
    }

    pub fn text(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let text = String::from_utf8_lossy(&[front, back].concat()).into_owned();
        if self.dropped > 0 {
            format!("[{} earlier bytes not kept]\n{text}", self.dropped)
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KEPT_BYTES, Tail};

    #[test]
    fn keeps_the_last_bytes_and_says_how_many_went() {
        let mut tail = Tail::default();
        tail.push(&vec![b'a'; KEPT_BYTES]);
        tail.push(b"the end");
        let text = tail.text();
        assert!(
            text.starts_with("[7 earlier bytes not kept]\n"),
            "{}",
            &text[..40]
        );
        assert!(text.ends_with("the end"));
    }
}
