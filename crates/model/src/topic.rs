//! Topic names: the one place that spells them, so producers, consumers and docs never drift.

use std::fmt;

/// Every Kafka topic of the data path (see DESIGN.md for the diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    RawNews,
    RawWeather,
    RawFx,
    RawBrandMetrics,
    /// A business's own KPI values (pushed, imported, or produced by partners).
    RawKpi,
    NewsScored,
    KpiPoints,
    KpiAnomalies,
    KpiForecasts,
    AlertsNotifications,
    /// Dead letters: records any stage could not decode or process, original bytes kept.
    Dlq,
}

impl Topic {
    /// All topics, in data-path order.
    pub const ALL: [Topic; 11] = [
        Topic::RawNews,
        Topic::RawWeather,
        Topic::RawFx,
        Topic::RawBrandMetrics,
        Topic::RawKpi,
        Topic::NewsScored,
        Topic::KpiPoints,
        Topic::KpiAnomalies,
        Topic::KpiForecasts,
        Topic::AlertsNotifications,
        Topic::Dlq,
    ];

    /// The topic's name on the broker.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::RawNews => "raw.news",
            Topic::RawWeather => "raw.weather",
            Topic::RawFx => "raw.fx",
            Topic::RawBrandMetrics => "raw.brand_metrics",
            Topic::RawKpi => "raw.kpi",
            Topic::NewsScored => "news.scored",
            Topic::KpiPoints => "kpi.points",
            Topic::KpiAnomalies => "kpi.anomalies",
            Topic::KpiForecasts => "kpi.forecasts",
            Topic::AlertsNotifications => "alerts.notifications",
            Topic::Dlq => "dlq",
        }
    }

    /// Looks a topic up by its broker name.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
