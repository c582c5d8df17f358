//! Timing: the median of N repetitions after a warm-up, and the copy
//! ceiling (a plain parallel memcpy of the same bytes).
//!
//! Benchmarks print and never assert: nothing here judges a time.

use std::time::{Duration, Instant};

/// The median of `samples` (the mean of the middle two for an even count);
/// zero for none.
pub fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    match s.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2,
    }
}

/// Runs `once` (which returns the time it measured itself) one warm-up time
/// and then `reps` times; the median of the timed runs.
pub fn median_of<E>(
    reps: usize,
    mut once: impl FnMut() -> Result<Duration, E>,
) -> Result<Duration, E> {
    once()?;
    let mut samples = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        samples.push(once()?);
    }
    Ok(median(&samples))
}

/// A source and a destination of `bytes / 2` bytes each, so one copy moves
/// `bytes` counted as BENCHMARKS.md counts them (read + write).
pub struct CopyCeiling {
    src: Vec<u8>,
    dst: Vec<u8>,
    threads: usize,
}

impl CopyCeiling {
    /// Buffers for a copy that reads and writes `bytes` in all; both are
    /// touched once so the first timed copy does not page-fault.
    pub fn new(bytes: u64, threads: usize) -> CopyCeiling {
        let half = usize::try_from(bytes / 2).unwrap_or(usize::MAX);
        let src: Vec<u8> = (0..half).map(|i| (i % 251) as u8).collect();
        CopyCeiling { src, dst: vec![0; half], threads: threads.max(1) }
    }

    /// One copy, split in contiguous chunks over the threads; its duration.
    pub fn copy(&mut self) -> Duration {
        let start = Instant::now();
        let chunk = self.src.len().div_ceil(self.threads).max(1);
        if self.threads == 1 {
            self.dst.copy_from_slice(&self.src);
        } else {
            std::thread::scope(|s| {
                for (d, c) in self.dst.chunks_mut(chunk).zip(self.src.chunks(chunk)) {
                    s.spawn(move || d.copy_from_slice(c));
                }
            });
        }
        start.elapsed()
    }

    /// True when the destination equals the source (a check for tests).
    pub fn copied(&self) -> bool {
        self.src == self.dst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle() {
        let ms = |v: &[u64]| v.iter().map(|&x| Duration::from_millis(x)).collect::<Vec<_>>();
        assert_eq!(median(&ms(&[5, 1, 3])), Duration::from_millis(3));
        assert_eq!(median(&ms(&[4, 1, 3, 2])), Duration::from_micros(2500));
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn median_of_warms_up_once_then_runs_reps() {
        let mut calls = 0;
        let d = median_of::<()>(4, || {
            calls += 1;
            Ok(Duration::from_millis(calls))
        })
        .expect("no error");
        assert_eq!(calls, 5);
        assert_eq!(d, Duration::from_micros(3500)); // median of 2, 3, 4, 5
    }

    #[test]
    fn the_copy_moves_every_byte_with_any_thread_count() {
        for threads in [1, 2, 3] {
            let mut c = CopyCeiling::new(2 * 1001, threads);
            assert!(!c.copied());
            c.copy();
            assert!(c.copied(), "threads {threads}");
        }
    }
}
