//! (roster) A small deterministic generator for the tests that compare
//! roster's readers and writers with the library's on many random
//! inputs: xorshift64, so that a failure repeats.

/// xorshift64 (Marsaglia): a fixed seed gives a fixed sequence.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// The next number of the sequence.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// One of `from`, chosen by the next number.
    pub(crate) fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }
}
