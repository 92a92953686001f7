//! API keys for machines: `sck_<key id>_<secret>`, shown once when created; the database keeps
//! the key id, its tenant and role, and the SHA-256 of the secret. A key is exchanged for a
//! short-lived token at `POST /api/v1/token`; a revoked key exchanges for nothing. Also the
//! statements behind `signalcraft apikey create|list|revoke`.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::{auth::Role, params::TenantId};

/// Every key starts with this, so a leaked one is recognisable (secret scanners, logs).
const PREFIX: &str = "sck_";
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// A key as it is handed out, once.
pub struct NewKey {
    pub key_id: String,
    /// The whole key: give it to the machine, it is not stored.
    pub key: String,
}

/// A key as stored (no secret).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoredKey {
    pub key_id: String,
    pub tenant_id: String,
    pub role: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who a valid key acts as.
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    pub key_id: String,
    pub tenant: TenantId,
    pub role: Role,
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The key id and secret of `key`, if it has the shape of one of ours.
pub fn split(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = key_id.len() == 16 && key_id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    let secret_ok = secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((key_id, secret))
}

/// Makes a key for `tenant` acting as `role`, stores its digest, and returns it: the only time
/// the whole key exists outside the caller.
pub async fn create(pool: &PgPool, tenant: &TenantId, role: Role, label: &str) -> anyhow::Result<NewKey> {
    let mut id_bytes = [0u8; 8];
    let mut secret_bytes = [0u8; 32];
    getrandom::fill(&mut id_bytes).map_err(|error| anyhow::anyhow!("no random bytes from the system: {error}"))?;
    getrandom::fill(&mut secret_bytes).map_err(|error| anyhow::anyhow!("no random bytes from the system: {error}"))?;
    let key_id = hex::encode(id_bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
    sqlx::query("INSERT INTO api_keys (key_id, tenant_id, role, secret_sha256, label) VALUES ($1, $2, $3, $4, $5)")
        .bind(&key_id)
        .bind(tenant.as_str())
        .bind(role.as_str())
        .bind(digest(&secret))
        .bind(label)
        .execute(pool)
        .await?;
    Ok(NewKey { key: format!("{PREFIX}{key_id}_{secret}"), key_id })
}

/// Every key, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<StoredKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key_id, tenant_id, role, label, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, key_id",
    )
    .fetch_all(pool)
    .await
}

/// Revokes `key_id`; false if there is no such key or it was revoked already. Tokens it was
/// exchanged for stay valid until they expire (at most `api.token_ttl_secs`).
pub async fn revoke(pool: &PgPool, key_id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL")
        .bind(key_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Who `key` acts as, if it is a stored, unrevoked key with the right secret.
pub async fn identify(pool: &PgPool, key: &str) -> Result<Option<KeyIdentity>, sqlx::Error> {
    let Some((key_id, secret)) = split(key) else {
        return Ok(None);
    };
    // The digest is compared in the database: the secret never leaves this process, and a
    // wrong secret and an unknown id read the same.
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT tenant_id, role FROM api_keys WHERE key_id = $1 AND secret_sha256 = $2 AND revoked_at IS NULL",
    )
    .bind(key_id)
    .bind(digest(secret))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(tenant, role)| {
        Some(KeyIdentity {
            key_id: key_id.to_string(),
            tenant: TenantId::parse(&tenant).ok()?,
            role: Role::parse(&role)?,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_of_our_shape_are_looked_up() {
        let key = format!("sck_0123456789abcdef_{}", "A".repeat(43));
        assert_eq!(split(&key), Some(("0123456789abcdef", "A".repeat(43).as_str())));
        assert_eq!(split("sck_short_x"), None);
        assert_eq!(split(&format!("sck_0123456789ABCDEF_{}", "A".repeat(43))), None);
        assert_eq!(split(&format!("sck_0123456789abcdef_{}'", "A".repeat(42))), None);
        assert_eq!(split("Bearer x"), None);
    }
}
