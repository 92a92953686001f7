//! Fixed-size windows over the most recent values: the only memory the detector keeps, so its
//! state never grows with the length of a series.

use std::cmp::Ordering;

/// A first-in first-out buffer of at most `capacity` values.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    buf: Vec<f64>,
    head: usize,
    capacity: usize,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring { buf: Vec::with_capacity(capacity), head: 0, capacity }
    }

    /// Appends `value`; returns the value it pushed out once the buffer is full.
    pub(crate) fn push(&mut self, value: f64) -> Option<f64> {
        if self.buf.len() < self.capacity {
            self.buf.push(value);
            return None;
        }
        let old = std::mem::replace(&mut self.buf[self.head], value);
        self.head = (self.head + 1) % self.capacity;
        Some(old)
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Values in no particular order (enough for sums).
    pub(crate) fn values(&self) -> &[f64] {
        &self.buf
    }
}

/// The last `capacity` (timestamp, value) pairs, timestamps strictly increasing, so the value
/// nearest a past instant is a binary search away (seasonal references).
#[derive(Debug, Clone)]
pub(crate) struct TimedRing {
    buf: Vec<(i64, f64)>,
    head: usize,
    capacity: usize,
}

impl TimedRing {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        TimedRing { buf: Vec::with_capacity(capacity), head: 0, capacity }
    }

    /// Appends a pair; `ts` must be after every timestamp held.
    pub(crate) fn push(&mut self, ts: i64, value: f64) {
        if self.buf.len() < self.capacity {
            self.buf.push((ts, value));
        } else {
            self.buf[self.head] = (ts, value);
            self.head = (self.head + 1) % self.capacity;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Timestamp of the pair `back` places before the newest (0: the newest), if held.
    pub(crate) fn ts_back(&self, back: usize) -> Option<i64> {
        let n = self.buf.len();
        (back < n).then(|| self.get(n - 1 - back).0)
    }

    /// The pairs held, in no particular order.
    pub(crate) fn pairs(&self) -> &[(i64, f64)] {
        &self.buf
    }

    /// The `i`-th oldest pair.
    fn get(&self, i: usize) -> (i64, f64) {
        self.buf[(self.head + i) % self.buf.len()]
    }

    /// Median of the values of the (up to) three pairs around the one nearest `ts`, if that one
    /// lies within `tolerance` of `ts`: a reference for "the value one period ago" that one
    /// noisy reading cannot make.
    pub(crate) fn around(&self, ts: i64, tolerance: i64) -> Option<f64> {
        let n = self.buf.len();
        if n == 0 {
            return None;
        }
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.get(mid).0 < ts {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // `lo` is the first pair at or after `ts`; the nearest is it or the one before.
        let nearest = match (lo.checked_sub(1), lo < n) {
            (Some(before), true) if ts - self.get(before).0 <= self.get(lo).0 - ts => before,
            (Some(before), false) => before,
            _ => lo,
        };
        if (self.get(nearest).0 - ts).abs() > tolerance {
            return None;
        }
        let mut v = [nearest.saturating_sub(1), nearest, (nearest + 1).min(n - 1)].map(|i| self.get(i).1);
        v.sort_by(f64::total_cmp);
        Some(v[1])
    }
}

/// A sliding window kept both in arrival order and sorted, so order statistics (median, MAD,
/// ranks, extremes) cost a binary search instead of a sort per point. Values must be finite.
#[derive(Debug, Clone)]
pub(crate) struct SortedWindow {
    fifo: Ring,
    sorted: Vec<f64>,
}

impl SortedWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        SortedWindow { fifo: Ring::new(capacity), sorted: Vec::with_capacity(capacity.max(1)) }
    }

    pub(crate) fn push(&mut self, value: f64) {
        if let Some(old) = self.fifo.push(value) {
            let at = self.sorted.partition_point(|v| v.total_cmp(&old) == Ordering::Less);
            // The evicted value is in `sorted` by construction; the guard only keeps a logic
            // error from panicking in production.
            if at < self.sorted.len() {
                self.sorted.remove(at);
            }
        }
        let at = self.sorted.partition_point(|v| v.total_cmp(&value) != Ordering::Greater);
        self.sorted.insert(at, value);
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    pub(crate) fn min(&self) -> Option<f64> {
        self.sorted.first().copied()
    }

    pub(crate) fn max(&self) -> Option<f64> {
        self.sorted.last().copied()
    }

    /// The `q`-quantile (nearest rank), `q` in [0, 1].
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let at = (q.clamp(0.0, 1.0) * (n - 1) as f64).round() as usize;
        self.sorted.get(at.min(n - 1)).copied()
    }

    pub(crate) fn median(&self) -> Option<f64> {
        self.quantile(0.5)
    }

    /// Median absolute deviation from `center`, found by walking outwards from `center` in the
    /// sorted values: O(n/2) and no allocation.
    pub(crate) fn mad(&self, center: f64) -> Option<f64> {
        let s = &self.sorted;
        let n = s.len();
        if n == 0 {
            return None;
        }
        let mut right = s.partition_point(|v| *v < center);
        let mut left = right; // exclusive: s[left - 1] is the next candidate below
        let mut deviation = 0.0;
        for _ in 0..n.div_ceil(2) {
            let below = if left > 0 { Some(center - s[left - 1]) } else { None };
            let above = s.get(right).map(|v| v - center);
            deviation = match (below, above) {
                (Some(b), Some(a)) if b <= a => {
                    left -= 1;
                    b
                }
                (_, Some(a)) => {
                    right += 1;
                    a
                }
                (Some(b), None) => {
                    left -= 1;
                    b
                }
                (None, None) => break,
            };
        }
        Some(deviation)
    }

    /// Mid-rank of `value` among the window's values as a fraction in [0, 1].
    pub(crate) fn rank(&self, value: f64) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return 0.5;
        }
        let below = self.sorted.partition_point(|v| *v < value);
        let not_above = self.sorted.partition_point(|v| *v <= value);
        (below + not_above) as f64 / (2 * n) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_only_the_last_values() {
        let mut ring = Ring::new(3);
        assert_eq!(ring.push(1.0), None);
        ring.push(2.0);
        ring.push(3.0);
        assert_eq!(ring.push(4.0), Some(1.0));
        assert_eq!(ring.len(), 3);
        let mut held = ring.values().to_vec();
        held.sort_by(f64::total_cmp);
        assert_eq!(held, [2.0, 3.0, 4.0]);
    }

    #[test]
    fn timed_ring_finds_the_value_nearest_a_past_instant() {
        let mut ring = TimedRing::new(4);
        for (ts, v) in [(0, 1.0), (10, 2.0), (20, 30.0), (30, 4.0), (40, 5.0)] {
            ring.push(ts, v);
        }
        assert_eq!(ring.len(), 4);
        // (0, 1) has been pushed out; nearest to 12 is 10, median of 2, 2 (edge repeats), 30.
        assert_eq!(ring.around(12, 5), Some(2.0));
        // Nearest to 31 is 30: median of 30, 4, 5.
        assert_eq!(ring.around(31, 5), Some(5.0));
        assert_eq!(ring.around(0, 5), None);
        assert_eq!(ring.around(100, 5), None);
    }

    #[test]
    fn sorted_window_matches_a_full_sort() {
        let mut window = SortedWindow::new(5);
        for v in [5.0, 1.0, 4.0, 1.0, 9.0, 2.0, 6.0] {
            window.push(v);
        }
        // Last five: 4, 1, 9, 2, 6 → sorted 1, 2, 4, 6, 9.
        assert_eq!(window.len(), 5);
        assert_eq!((window.min(), window.median(), window.max()), (Some(1.0), Some(4.0), Some(9.0)));
        // Deviations from 4: 3, 2, 0, 2, 5 → median 2.
        assert_eq!(window.mad(4.0), Some(2.0));
        assert_eq!(window.rank(4.0), 0.5);
        assert_eq!(window.rank(100.0), 1.0);
    }
}
