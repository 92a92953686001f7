//! The chaos harness's input: a deterministic set of events across the raw topics, computed
//! from a seed and an index alone, so the same run can be fed to two pipelines and the rows it
//! must become can be computed without running anything.
//!
//! Events come in blocks of [`BLOCK`]: 14 `raw.kpi` observations, 2 `raw.fx` rates, 2
//! `raw.weather` observations, 1 `raw.brand_metrics` score and 1 `raw.news` article. Within a
//! topic, event `i` belongs to series `i % series` at step `i / series`, so every series'
//! events are produced in time order (each series is one Kafka key, so they stay in order).
//! Every id is the harness's own (tenants `chaos-*`, currencies `X??`, brand ids from
//! 9,000,000), so nothing collides with what the replayed upstreams bring.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use signalcraft_model::{BrandMetric, FxRate, KpiObservation, NewsArticle, WeatherKind, WeatherObservation};

/// Events per block, and the topics' shares of it.
pub const BLOCK: u64 = 20;
const KPI_PER_BLOCK: u64 = 14;
const FX_PER_BLOCK: u64 = 2;
const WEATHER_PER_BLOCK: u64 = 2;
const BRAND_PER_BLOCK: u64 = 1;
const NEWS_PER_BLOCK: u64 = 1;

/// Steps per series: long enough for the anomaly detector and the forecaster to have state
/// worth rebuilding after a kill.
const KPI_STEPS: u64 = 500;
const FX_STEPS: u64 = 400;
const WEATHER_STEPS: u64 = 500;
const BRAND_STEPS: u64 = 200;
const NEWS_STEPS: u64 = 2_000;

/// Weather variables each observation carries (continuous: one point each).
pub const WEATHER_VARIABLES: [&str; 2] = ["temperature_2m", "wind_speed_10m"];

/// One generated event.
#[derive(Debug, Clone)]
pub enum Event {
    Kpi(KpiObservation),
    Fx(FxRate),
    Weather(WeatherObservation),
    Brand(BrandMetric),
    News(NewsArticle),
}

/// Events of one chunk, grouped by topic (the producer sends one record type at a time).
#[derive(Debug, Default)]
pub struct Chunk {
    pub kpi: Vec<KpiObservation>,
    pub fx: Vec<FxRate>,
    pub weather: Vec<WeatherObservation>,
    pub brand: Vec<BrandMetric>,
    pub news: Vec<NewsArticle>,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.kpi.len() + self.fx.len() + self.weather.len() + self.brand.len() + self.news.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, event: Event) {
        match event {
            Event::Kpi(e) => self.kpi.push(e),
            Event::Fx(e) => self.fx.push(e),
            Event::Weather(e) => self.weather.push(e),
            Event::Brand(e) => self.brand.push(e),
            Event::News(e) => self.news.push(e),
        }
    }
}

/// The events of one run: `events` (a multiple of [`BLOCK`]) from `seed`.
#[derive(Debug, Clone, Copy)]
pub struct Generator {
    pub seed: u64,
    pub events: u64,
}

/// Series per topic for `count` events of `steps` each (at least one).
fn series_for(count: u64, steps: u64) -> u64 {
    count.div_ceil(steps).max(1)
}

/// Where every series starts: 2024-01-01T00:00Z.
pub fn origin() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or_default()
}

fn origin_day() -> NaiveDate {
    origin().date_naive()
}

/// Uniform in [0, 1) from a splitmix64 hash of `seed`, `salt` and `i`: the same on every run.
pub fn unit(seed: u64, salt: u64, i: u64) -> f64 {
    let mut x = seed ^ salt.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A value with a daily cycle, noise, and a rare spike: something for the detector to flag.
fn signal(seed: u64, salt: u64, series: u64, step: u64, level: f64) -> f64 {
    let cycle = (std::f64::consts::TAU * step as f64 / 24.0).sin();
    let noise = unit(seed, salt, series << 32 | step) - 0.5;
    let spike = if unit(seed, salt ^ 0x5a5a, series << 32 | step) < 0.003 { 8.0 } else { 0.0 };
    level * (1.0 + 0.1 * cycle + 0.02 * noise + 0.1 * spike)
}

/// Titles the sentiment stage scores, from glowing to grim.
const TITLES: [&str; 8] = [
    "Record quarter as customers love the new stores",
    "Port expansion wins praise from local businesses",
    "Shipping volumes steady this week",
    "Council reviews the harbour plan",
    "Delays frustrate travellers at the terminal",
    "Strike halts deliveries, losses mount",
    "Fire damages warehouse, no injuries reported",
    "Great results and happy staff after a strong year",
];

/// Brand metric names (slugs become series ids).
const BRAND_METRICS: [&str; 2] = ["Chaos reach", "Chaos engagement"];

impl Generator {
    /// `events` rounded up to whole blocks.
    pub fn new(seed: u64, events: u64) -> Generator {
        Generator { seed, events: events.div_ceil(BLOCK).max(1) * BLOCK }
    }

    fn blocks(&self) -> u64 {
        self.events / BLOCK
    }

    /// Events per topic.
    pub fn kpi_count(&self) -> u64 {
        self.blocks() * KPI_PER_BLOCK
    }
    pub fn fx_count(&self) -> u64 {
        self.blocks() * FX_PER_BLOCK
    }
    pub fn weather_count(&self) -> u64 {
        self.blocks() * WEATHER_PER_BLOCK
    }
    pub fn brand_count(&self) -> u64 {
        self.blocks() * BRAND_PER_BLOCK
    }
    pub fn news_count(&self) -> u64 {
        self.blocks() * NEWS_PER_BLOCK
    }

    /// Events per raw topic, by topic name.
    pub fn per_topic(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("raw.kpi", self.kpi_count()),
            ("raw.fx", self.fx_count()),
            ("raw.weather", self.weather_count()),
            ("raw.brand_metrics", self.brand_count()),
            ("raw.news", self.news_count()),
        ]
    }

    /// Event `g` of the run.
    pub fn event(&self, g: u64) -> Event {
        let (block, position) = (g / BLOCK, g % BLOCK);
        let mut position = position;
        for (per_block, make) in [
            (KPI_PER_BLOCK, Generator::kpi as fn(&Generator, u64) -> Event),
            (FX_PER_BLOCK, Generator::fx),
            (WEATHER_PER_BLOCK, Generator::weather),
            (BRAND_PER_BLOCK, Generator::brand),
            (NEWS_PER_BLOCK, Generator::news),
        ] {
            if position < per_block {
                return make(self, block * per_block + position);
            }
            position -= per_block;
        }
        // Unreachable: the shares add up to BLOCK.
        self.kpi(block * KPI_PER_BLOCK)
    }

    /// Events `from..to`, grouped by topic.
    pub fn chunk(&self, from: u64, to: u64) -> Chunk {
        let mut chunk = Chunk::default();
        for g in from..to.min(self.events) {
            chunk.push(self.event(g));
        }
        chunk
    }

    fn kpi(&self, i: u64) -> Event {
        let series = series_for(self.kpi_count(), KPI_STEPS);
        let (s, step) = (i % series, i / series);
        Event::Kpi(KpiObservation {
            tenant_id: format!("chaos-t{}", s % 8),
            metric: if s % 2 == 0 { "sales".into() } else { "orders".into() },
            dimensions: [("store".to_string(), format!("s{s}"))].into(),
            unit: Some("EUR".into()),
            ts: origin() + TimeDelta::hours(step as i64),
            value: signal(self.seed, 1, s, step, 100.0 + (s % 50) as f64),
            source: "chaos".into(),
            idempotency_key: None,
        })
    }

    fn fx(&self, i: u64) -> Event {
        let series = series_for(self.fx_count(), FX_STEPS);
        let (s, step) = (i % series, i / series);
        Event::Fx(FxRate {
            base: currency(s),
            quote: "USD".into(),
            rate_date: origin_day() + TimeDelta::days(step as i64),
            rate: signal(self.seed, 2, s, step, 1.0 + (s % 7) as f64 / 10.0),
            provider: "chaos".into(),
            published_at: None,
            fetched_at: origin(),
        })
    }

    fn weather(&self, i: u64) -> Event {
        let series = series_for(self.weather_count(), WEATHER_STEPS);
        let (s, step) = (i % series, i / series);
        let variables = WEATHER_VARIABLES
            .iter()
            .enumerate()
            .map(|(v, name)| (name.to_string(), Some(signal(self.seed, 3 + v as u64, s, step, 10.0 + v as f64))))
            .collect();
        let units = [("temperature_2m".to_string(), "°C".to_string()), ("wind_speed_10m".to_string(), "km/h".into())];
        Event::Weather(WeatherObservation {
            location_id: format!("chaos-w{s}"),
            latitude: (s % 80) as f64,
            longitude: (s % 170) as f64,
            hour: origin() + TimeDelta::hours(step as i64),
            kind: WeatherKind::Archive,
            variables,
            units: units.into(),
            fetched_at: origin(),
        })
    }

    fn brand(&self, i: u64) -> Event {
        let series = series_for(self.brand_count(), BRAND_STEPS);
        let (s, step) = (i % series, i / series);
        let metric = BRAND_METRICS[(s % 2) as usize];
        // Some scores are NaN upstream: a row without a value, and no point.
        let missing = unit(self.seed, 5, s << 32 | step) < 0.02;
        Event::Brand(BrandMetric {
            project_id: 1_000_000 + step as i64,
            period_start: origin_day() + TimeDelta::days(step as i64),
            brand_id: 9_000_000 + (s / 2) as i64,
            brand_name: format!("Chaos brand {}", s / 2),
            metric: metric.into(),
            value: (!missing).then(|| signal(self.seed, 6, s, step, 50.0)),
            fetched_at: origin(),
        })
    }

    fn news(&self, i: u64) -> Event {
        let series = series_for(self.news_count(), NEWS_STEPS);
        let (s, step) = (i % series, i / series);
        let title = TITLES[(unit(self.seed, 7, s << 32 | step) * TITLES.len() as f64) as usize % TITLES.len()];
        Event::News(NewsArticle {
            url: format!("https://news.chaos.example/{}/{s}/{step}", self.seed),
            title: title.into(),
            seen_at: origin() + TimeDelta::minutes(10 * step as i64),
            domain: Some("news.chaos.example".into()),
            language: Some("English".into()),
            source_country: None,
            social_image: None,
            tenant_id: Some(format!("chaos-n{s}")),
            query: "chaos".into(),
            fetched_at: origin(),
        })
    }

    /// The `kpi_points` rows the events must become, keyed by (series id, ts in µs): the value
    /// each must hold. Sentiment points (aggregates of the articles) are not in it: the
    /// uninterrupted run is their reference.
    pub fn expected_points(&self) -> HashMap<(String, i64), f64> {
        let mut points =
            HashMap::with_capacity((self.kpi_count() + 2 * self.weather_count() + self.fx_count()) as usize);
        for g in 0..self.events {
            match self.event(g) {
                Event::Kpi(o) => {
                    points.insert((o.series_id(), o.ts.timestamp_micros()), o.value);
                }
                Event::Fx(r) => {
                    let ts = r.rate_date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()).unwrap_or(0);
                    points.insert((format!("fx:{}:{}", r.base, r.quote), ts), r.rate);
                }
                Event::Weather(w) => {
                    for (name, value) in &w.variables {
                        if let Some(value) = value {
                            let series = format!("weather:{}:{name}", w.location_id);
                            points.insert((series, w.hour.timestamp_micros()), *value);
                        }
                    }
                }
                Event::Brand(b) => {
                    if let Some(value) = b.value {
                        let ts =
                            b.period_start.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()).unwrap_or(0);
                        let slug = b.metric.to_lowercase().replace(' ', "_");
                        points.insert((format!("dq:{}:{slug}", b.brand_id), ts), value);
                    }
                }
                Event::News(_) => {}
            }
        }
        points
    }
}

/// A currency code of the harness's own for series `s`: `XAA`, `XAB`, … (never `USD`).
fn currency(s: u64) -> String {
    let letter = |n: u64| char::from(b'A' + (n % 26) as u8);
    format!("X{}{}", letter(s / 26), letter(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_events_and_topics_get_their_shares() {
        let generator = Generator::new(7, 1_001);
        assert_eq!(generator.events, 1_020, "rounded up to whole blocks");
        let chunk = generator.chunk(0, generator.events);
        assert_eq!(chunk.len(), 1_020);
        assert_eq!(chunk.kpi.len() as u64, generator.kpi_count());
        assert_eq!((chunk.fx.len(), chunk.weather.len(), chunk.brand.len(), chunk.news.len()), (102, 102, 51, 51));
        let again = Generator::new(7, 1_001).chunk(0, 1_020);
        assert_eq!(chunk.kpi, again.kpi);
        assert_eq!(chunk.news, again.news);
        let other = Generator::new(8, 1_001).chunk(0, 1_020);
        assert_ne!(chunk.kpi[0].value, other.kpi[0].value, "another seed, other values");
        // Each series' events in time order.
        let first = &chunk.kpi[0];
        let later: Vec<_> = chunk.kpi.iter().filter(|o| o.series_id() == first.series_id()).collect();
        assert!(later.windows(2).all(|w| w[0].ts < w[1].ts));
    }

    #[test]
    fn expected_points_cover_every_valued_event() {
        let generator = Generator::new(1, 2_000);
        let chunk = generator.chunk(0, generator.events);
        let valued_brands = chunk.brand.iter().filter(|b| b.value.is_some()).count();
        let expected = generator.expected_points();
        assert_eq!(expected.len(), chunk.kpi.len() + chunk.fx.len() + 2 * chunk.weather.len() + valued_brands);
        assert_eq!(currency(0), "XAA");
        assert_eq!(currency(27), "XBB");
    }
}
