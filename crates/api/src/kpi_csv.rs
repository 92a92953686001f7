//! A business's KPI values as rows: the CSV columns an upload or an import names
//! (`ts,metric,value[,unit][,dim=<key>…]`), and a row — or a JSON item — made into a
//! [`KpiObservation`] of a tenant, or refused naming the field. Shared by `POST …/kpis` and
//! `signalcraft import kpi`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use signalcraft_model::KpiObservation;

use crate::params::TenantId;

/// Longest CSV field, in bytes.
pub const MAX_FIELD_BYTES: usize = 1024;

/// Why a row cannot be an observation: the column at fault (if one is) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    pub column: Option<String>,
    pub reason: String,
}

/// An observation of `tenant` from `source` (`api`, `import`), or the field at fault. Its
/// values are checked by the caller, against the topic's plausibility window.
pub fn observation(
    tenant: &TenantId,
    ts: &str,
    fields: ObservationFields,
    source: &str,
) -> Result<KpiObservation, BadField> {
    let ts = DateTime::parse_from_rfc3339(ts.trim()).map_err(|error| BadField {
        column: Some("ts".into()),
        reason: format!("`{}` is not RFC 3339 with a zone (2024-03-01T00:00:00Z): {error}", ts.escape_debug()),
    })?;
    Ok(KpiObservation {
        tenant_id: tenant.as_str().to_string(),
        metric: fields.metric,
        dimensions: fields.dimensions,
        unit: fields.unit.filter(|unit| !unit.is_empty()),
        ts: ts.with_timezone(&Utc),
        value: fields.value,
        source: source.into(),
        idempotency_key: fields.idempotency_key,
    })
}

/// The fields of an observation besides its tenant, time and source.
pub struct ObservationFields {
    pub metric: String,
    pub value: f64,
    pub unit: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
}

/// Where each column of a CSV upload goes.
pub struct CsvColumns {
    ts: usize,
    metric: usize,
    value: usize,
    unit: Option<usize>,
    /// (column, dimension key)
    dimensions: Vec<(usize, String)>,
    names: Vec<String>,
}

impl CsvColumns {
    /// The columns a header names; why not, when it names something else.
    pub fn from_header(header: &csv_async::StringRecord) -> Result<CsvColumns, String> {
        let bad = |reason: String| reason;
        let names: Vec<String> = header.iter().map(|name| name.trim().to_string()).collect();
        let (mut ts, mut metric, mut value, mut unit, mut dimensions) = (None, None, None, None, Vec::new());
        for (column, name) in names.iter().enumerate() {
            let slot = match name.as_str() {
                "ts" => &mut ts,
                "metric" => &mut metric,
                "value" => &mut value,
                "unit" => &mut unit,
                other => match other.strip_prefix("dim=") {
                    Some(key) => {
                        if let Some(problem) = signalcraft_model::validate::kpi_word_problem(key, 32) {
                            return Err(bad(format!("column {}: dimension key {problem}", column + 1)));
                        }
                        if dimensions.iter().any(|(_, known): &(usize, String)| known == key) {
                            return Err(bad(format!("column {}: dimension `{key}` appears twice", column + 1)));
                        }
                        dimensions.push((column, key.to_string()));
                        continue;
                    }
                    None => {
                        return Err(bad(format!(
                            "column {} is `{}`; columns are ts, metric, value, unit and dim=<key>",
                            column + 1,
                            other.escape_debug()
                        )))
                    }
                },
            };
            if slot.replace(column).is_some() {
                return Err(bad(format!("column `{name}` appears twice")));
            }
        }
        let missing = |what: &str| bad(format!("no `{what}` column (expected ts,metric,value[,unit][,dim=<key>…])"));
        Ok(CsvColumns {
            ts: ts.ok_or_else(|| missing("ts"))?,
            metric: metric.ok_or_else(|| missing("metric"))?,
            value: value.ok_or_else(|| missing("value"))?,
            unit,
            dimensions,
            names,
        })
    }

    /// The observation of `tenant` a data row holds, from `source`.
    pub fn observation(
        &self,
        tenant: &TenantId,
        record: &csv_async::StringRecord,
        source: &str,
    ) -> Result<KpiObservation, BadField> {
        if record.len() != self.names.len() {
            return Err(BadField {
                column: None,
                reason: format!("{} fields where the header has {}", record.len(), self.names.len()),
            });
        }
        if let Some((column, _)) = record.iter().enumerate().find(|(_, field)| field.len() > MAX_FIELD_BYTES) {
            return Err(BadField {
                column: self.names.get(column).cloned(),
                reason: format!("longer than {MAX_FIELD_BYTES} bytes"),
            });
        }
        let field = |column: usize| record.get(column).unwrap_or("").trim();
        let value = field(self.value).parse::<f64>().map_err(|_| BadField {
            column: Some("value".into()),
            reason: format!("`{}` is not a number", field(self.value).escape_debug()),
        })?;
        let fields = ObservationFields {
            metric: field(self.metric).to_string(),
            value,
            unit: self.unit.map(|column| field(column).to_string()),
            dimensions: self.dimensions.iter().map(|(column, key)| (key.clone(), field(*column).to_string())).collect(),
            idempotency_key: None,
        };
        observation(tenant, field(self.ts), fields, source)
    }
}
