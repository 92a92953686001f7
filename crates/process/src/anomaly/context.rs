//! [`ContextNovelty`]: a contextual detector in the spirit of CAD OSE (the Contextual Anomaly
//! Detector, open-source edition), written from the published description of the idea only —
//! not from NAB's or Numenta's code.
//!
//! Values are min-max normalised over the range learned so far and quantised into `buckets`
//! levels. The buckets of the last `span` points make up the current situation, described by a
//! fixed set of *contexts*: the bucket itself, every (lag, earlier bucket, current bucket) pair
//! within the span, and the last three buckets as a sequence. The *share* of a point is the
//! fraction of its contexts not seen within the last `memory` points: a familiar shape scores 0
//! whatever its level, a broken rhythm or a move to an unvisited level scores up to 1.
//!
//! A series that keeps producing new contexts (noise, or one still being learned) would make
//! every share look alarming, so the novelty reported is the share discounted by the series' own
//! recent rate of new contexts (an exponential average over about [`RATE_POINTS`] points that
//! starts at 1: a series is presumed unfamiliar until it has shown that it repeats itself).
//!
//! Every possible context has one slot in a fixed table holding when it was last seen, so the
//! dictionary is exact, learned online, bounded by `buckets + (span - 1) * buckets^2 + buckets^3`
//! slots of 4 bytes (22.6 KB with the detector's defaults: 16 buckets, span 7), and forgets
//! whatever it has not seen for `memory` points.

use std::collections::VecDeque;

/// Points over which the rate of new contexts is averaged.
pub(crate) const RATE_POINTS: f64 = 256.0;

/// Online context novelty of one series.
#[derive(Debug, Clone)]
pub(crate) struct ContextNovelty {
    buckets: usize,
    span: usize,
    memory: u32,
    /// Smallest and largest value seen.
    range: Option<(f64, f64)>,
    /// Buckets of the last `span - 1` points, oldest first.
    recent: VecDeque<usize>,
    /// Per context slot: the clock value when it was last seen, 0 if never.
    last_seen: Vec<u32>,
    /// Point clock, starting at 1; rebased before it overflows (see `tick`).
    now: u32,
    /// Average share of new contexts of the recent points.
    rate: f64,
}

impl ContextNovelty {
    /// `buckets` levels (2 to 64), contexts over the last `span` points (2 to 64), forgotten
    /// after `memory` points unseen (at most 2^31).
    pub(crate) fn new(buckets: usize, span: usize, memory: usize) -> Self {
        let buckets = buckets.clamp(2, 64);
        let span = span.clamp(2, 64);
        ContextNovelty {
            buckets,
            span,
            memory: memory.clamp(1, 1 << 31) as u32,
            range: None,
            recent: VecDeque::with_capacity(span),
            last_seen: vec![0; buckets + (span - 1) * buckets * buckets + buckets.pow(3)],
            now: 0,
            rate: 1.0,
        }
    }

    /// Slots held: fixed by the parameters.
    pub(crate) fn len(&self) -> usize {
        self.last_seen.len() + self.recent.len()
    }

    /// Novelty in [0, 1] of `value` given the points before it (the share of its contexts not
    /// seen within the memory, discounted by the series' recent rate of new contexts), then
    /// learns it. `value` must be finite.
    pub(crate) fn observe(&mut self, value: f64) -> f64 {
        let bucket = self.bucket(value);
        self.range = Some(self.range.map_or((value, value), |(lo, hi)| (lo.min(value), hi.max(value))));
        let share = self.learn(bucket);
        let novelty = share * (1.0 - self.rate);
        self.rate += (share - self.rate) / RATE_POINTS;
        novelty.clamp(0.0, 1.0)
    }

    /// Bucket of `value` in the range seen so far (values beyond it go to the edge buckets; the
    /// middle bucket while the range is a single value).
    fn bucket(&self, value: f64) -> usize {
        let Some((lo, hi)) = self.range else {
            return self.buckets / 2;
        };
        if hi <= lo {
            return match value.partial_cmp(&lo) {
                Some(std::cmp::Ordering::Less) => 0,
                Some(std::cmp::Ordering::Greater) => self.buckets - 1,
                _ => self.buckets / 2,
            };
        }
        let position = ((value - lo) / (hi - lo) * self.buckets as f64).floor();
        position.clamp(0.0, (self.buckets - 1) as f64) as usize
    }

    /// Share in [0, 1] of the contexts of a point in `bucket` not seen within the memory; marks
    /// them seen. 0 until the span is full.
    fn learn(&mut self, bucket: usize) -> f64 {
        let b = self.buckets;
        let now = self.tick();
        let memory = self.memory;
        let mut slots = [0usize; 66];
        let mut count = 0;
        slots[count] = bucket;
        count += 1;
        // Pairs: `recent` is oldest first, so the lag of the last entry is 1.
        for (lag, earlier) in self.recent.iter().rev().enumerate() {
            slots[count] = b + (lag * b + earlier) * b + bucket;
            count += 1;
        }
        let triples = b + (self.span - 1) * b * b;
        let full = self.recent.len() + 1 >= self.span;
        if let (Some(first), Some(second)) = (self.recent.iter().rev().nth(1), self.recent.back()) {
            slots[count] = triples + (first * b + second) * b + bucket;
            count += 1;
        }
        let mut novel = 0;
        for &slot in &slots[..count] {
            if let Some(last) = self.last_seen.get_mut(slot) {
                if *last == 0 || now - *last > memory {
                    novel += 1;
                }
                *last = now;
            }
        }
        if full {
            self.recent.pop_front();
        }
        self.recent.push_back(bucket);
        if full {
            f64::from(novel) / count as f64
        } else {
            0.0
        }
    }

    /// Advances the clock. Before it would overflow (after 4 billion points), every slot is
    /// shifted back so that the last `memory` points keep their ages and older slots read as
    /// never seen, exactly as without the rebase.
    fn tick(&mut self) -> u32 {
        if self.now == u32::MAX {
            let shift = self.now - self.memory - 1;
            for last in &mut self.last_seen {
                *last = last.saturating_sub(shift);
            }
            self.now -= shift;
        }
        self.now += 1;
        self.now
    }

    /// Sets the clock, so that tests can reach the rebase without 4 billion points.
    #[cfg(test)]
    pub(crate) fn set_clock(&mut self, now: u32) {
        self.now = now;
    }
}
