//! Who is calling: bearer JWTs (HS256, `sub`, `tenant`, `role`, short-lived) signed with the
//! configured key, and what each role may do. Viewers read their tenant, editors also manage its
//! alert rules, admins read any tenant. A token that is missing, malformed, expired, signed with
//! another key or tampered with is answered 401; the reason is in the problem body, never the
//! token itself.

use std::{fmt, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use chrono::Utc;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{params::TenantId, problem::Problem, state::ApiState};

/// The issuer every token names, and the only one accepted.
const ISSUER: &str = "signalcraft";
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;
/// Longest subject, in bytes.
const MAX_SUBJECT_BYTES: usize = 200;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads its tenant's data.
    Viewer,
    /// Reads, and manages its tenant's alert rules.
    Editor,
    /// Reads any tenant's data, and manages any tenant's rules.
    Admin,
}

impl Role {
    /// The stored and printed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// The role spelled `text`, if any.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who: `key:<key id>` for an exchanged API key, or what the operator named.
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not match (tampered, or signed with another key)")]
    BadSignature,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's claims are not acceptable: {0}")]
    BadClaims(String),
}

/// Signs and checks tokens with one HS256 key. The key is never printed.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with `key` whose tokens last `ttl`.
    pub fn new(key: &[u8], ttl: Duration) -> TokenSigner {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        TokenSigner {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            ttl,
        }
    }

    /// A signer with a random key of this process's own: its tokens end with the process.
    pub fn random(ttl: Duration) -> Result<TokenSigner, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(TokenSigner::new(&key, ttl))
    }

    /// How long the tokens it issues last.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `subject` acting as `role` on `tenant`, valid from now for the signer's ttl.
    pub fn issue(&self, subject: &str, tenant: &TenantId, role: Role) -> Result<String, TokenError> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: subject.to_string(),
            tenant: tenant.as_str().to_string(),
            role,
            iss: ISSUER.to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
        };
        self.sign(&claims)
    }

    /// Signs `claims` as they are (tests make expired tokens with it).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|error| TokenError::BadClaims(error.to_string()))
    }

    /// The claims of `token`, if it is ours, unexpired and well formed.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|error| {
                match error.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    ErrorKind::InvalidSignature => TokenError::BadSignature,
                    ErrorKind::InvalidIssuer => TokenError::BadClaims("unknown issuer".into()),
                    ErrorKind::InvalidAlgorithm => TokenError::BadClaims("only HS256 is accepted".into()),
                    ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => {
                        TokenError::BadClaims("missing or mistyped claims".into())
                    }
                    _ => TokenError::Malformed,
                }
            })?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.sub.len() > MAX_SUBJECT_BYTES {
            return Err(TokenError::BadClaims("sub must be 1–200 bytes".into()));
        }
        if TenantId::parse(&claims.tenant).is_err() {
            return Err(TokenError::BadClaims("tenant is not a tenant id".into()));
        }
        Ok(claims)
    }
}

/// An authenticated caller, from its bearer token; rate-limited by subject.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub tenant: TenantId,
    pub role: Role,
}

/// Which tenant's rows a request may read: the tenant in its URL, and the tenant its
/// database session is walled to (the token's, or for an admin the URL's).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The tenant the URL names: what the handler's queries ask for.
    pub tenant: TenantId,
    /// The tenant the database session is set to: what row-level security lets through.
    pub session_tenant: TenantId,
}

impl Caller {
    /// May this caller read `tenant`'s data? 403 if not.
    pub fn read_scope(&self, state: &ApiState, tenant: &TenantId) -> Result<Scope, Problem> {
        let session_tenant = if self.role == Role::Admin { tenant.clone() } else { self.tenant.clone() };
        if self.role != Role::Admin && &self.tenant != tenant && state.checks_tenant_in_handler() {
            return Err(Problem::forbidden(format!("this token is for tenant `{}`, not `{}`", self.tenant, tenant)));
        }
        Ok(Scope { tenant: tenant.clone(), session_tenant })
    }

    /// May this caller change `tenant`'s alert rules? 403 if not.
    pub fn write_scope(&self, state: &ApiState, tenant: &TenantId) -> Result<Scope, Problem> {
        if self.role == Role::Viewer {
            return Err(Problem::forbidden("a viewer token may not change alert rules; it needs role editor or admin"));
        }
        self.read_scope(state, tenant)
    }
}

impl Caller {
    /// May this caller push KPI values for `tenant`? 403 if not. Always checked here: what is
    /// pushed goes to the broker, where no database policy stands behind the handler.
    pub fn intake_scope(&self, tenant: &TenantId) -> Result<Scope, Problem> {
        if self.role == Role::Viewer {
            return Err(Problem::forbidden("a viewer token may not push KPI values; it needs role editor or admin"));
        }
        if self.role != Role::Admin && &self.tenant != tenant {
            return Err(Problem::forbidden(format!("this token is for tenant `{}`, not `{}`", self.tenant, tenant)));
        }
        Ok(Scope { tenant: tenant.clone(), session_tenant: tenant.clone() })
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, Problem> {
        let token = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(header) => {
                let value =
                    header.to_str().map_err(|_| Problem::unauthorized("the Authorization header is not text"))?;
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .ok_or_else(|| Problem::unauthorized("the Authorization header is not `Bearer <token>`"))?
                    .trim()
                    .to_string()
            }
            // A browser's EventSource cannot send headers: the event stream also takes the
            // token as `access_token` in its query.
            None if parts.uri.path().ends_with("/events") => query_token(parts).ok_or_else(no_token)?,
            None => return Err(no_token()),
        };
        let token = token.as_str();
        let claims = state.signer().verify(token).map_err(|error| Problem::unauthorized(error.to_string()))?;
        state.rate_limit(&format!("sub:{}", claims.sub))?;
        let tenant = TenantId::parse(&claims.tenant).map_err(Problem::unauthorized)?;
        Ok(Caller { subject: claims.sub, tenant, role: claims.role })
    }
}

fn no_token() -> Problem {
    Problem::unauthorized("no Authorization header; send `Authorization: Bearer <token>`")
}

/// `access_token` of the request's query, if any.
fn query_token(parts: &Parts) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenQuery {
        access_token: Option<String>,
    }
    let axum::extract::Query(query) = axum::extract::Query::<TokenQuery>::try_from_uri(&parts.uri).ok()?;
    query.access_token
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).expect("a tenant id")
    }

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let signer = TokenSigner::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(900));
        let token = signer.issue("ops", &tenant("acme"), Role::Editor).expect("signs");
        let claims = signer.verify(&token).expect("verifies");
        assert_eq!((claims.sub.as_str(), claims.tenant.as_str(), claims.role), ("ops", "acme", Role::Editor));
        assert_eq!(claims.exp - claims.iat, 900);

        let other = TokenSigner::new(b"another key, another 32 bytes!!!", Duration::from_secs(900));
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));
        assert_eq!(signer.verify("not.a.token"), Err(TokenError::Malformed));

        let expired = Claims { iat: 0, exp: Utc::now().timestamp() - 60, ..claims.clone() };
        assert_eq!(signer.verify(&signer.sign(&expired).expect("signs")), Err(TokenError::Expired));
        let foreign = Claims { iss: "elsewhere".into(), ..claims };
        assert!(matches!(signer.verify(&signer.sign(&foreign).expect("signs")), Err(TokenError::BadClaims(_))));
    }
}
