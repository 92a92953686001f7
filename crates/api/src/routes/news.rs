//! A tenant's news: the articles fetched for it, each with its VADER sentiment, newest first,
//! one page at a time (keyset cursor on seen time and URL, stable while articles arrive).

use axum::{extract::State, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    access::{self, DbRole},
    auth::Caller,
    params::{decode_cursor, encode_cursor, ApiPath, ApiQuery, Limit},
    problem::{Problem, Refusals},
    routes::series::TenantPath,
    state::ApiState,
};

/// `GET …/news` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NewsQuery {
    /// Oldest article to include (by when it was seen), RFC 3339.
    pub from: Option<DateTime<Utc>>,
    /// Articles per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One article and its sentiment.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Article {
    pub url: String,
    pub title: String,
    pub seen_at: DateTime<Utc>,
    pub domain: Option<String>,
    pub language: Option<String>,
    pub source_country: Option<String>,
    /// VADER compound score in [-1, 1].
    pub compound: f64,
    pub negative: f64,
    pub neutral: f64,
    pub positive: f64,
}

/// A page of articles.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewsPage {
    pub articles: Vec<Article>,
    /// Set when older articles follow: pass it as `cursor`.
    pub next_cursor: Option<String>,
}

/// Where a page ends: the last article's seen time and URL.
#[derive(Serialize, Deserialize)]
struct Position {
    seen_at: DateTime<Utc>,
    url: String,
}

/// The tenant's articles with their sentiment, newest first.
#[utoipa::path(
    get, path = "/tenants/{tenant}/news", tag = "news",
    params(TenantPath, NewsQuery),
    responses(
        (status = 200, body = NewsPage),
        Refusals,
    ),
    security(("bearer" = []))
)]
pub async fn news(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<TenantPath>,
    ApiQuery(query): ApiQuery<NewsQuery>,
) -> Result<Json<NewsPage>, Problem> {
    let scope = caller.read_scope(&state, &path.tenant)?;
    let limit = Limit::<50, 200>::parse(query.limit)?;
    let after: Option<Position> = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut transaction = access::begin(state.pool(), &scope, DbRole::Reader).await?;
    let mut articles: Vec<Article> = sqlx::query_as(
        "SELECT s.url, s.title, s.seen_at, a.domain, a.language, a.source_country, s.compound, \
                s.neg AS negative, s.neu AS neutral, s.pos AS positive \
         FROM news_sentiment s LEFT JOIN news_articles a ON a.tenant_key = s.tenant_key AND a.url = s.url \
         WHERE s.tenant_id = $1 AND s.seen_at >= coalesce($2, '-infinity') \
           AND ($3::timestamptz IS NULL OR (s.seen_at, s.url) < ($3, $4)) \
         ORDER BY s.seen_at DESC, s.url DESC LIMIT $5",
    )
    .bind(scope.tenant.as_str())
    .bind(query.from)
    .bind(after.as_ref().map(|position| position.seen_at))
    .bind(after.as_ref().map(|position| position.url.as_str()))
    .bind(limit.probe())
    .fetch_all(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "reading the news"))?;
    let next_cursor = if articles.len() > limit.get() as usize {
        articles.pop();
        articles.last().map(|last| encode_cursor(&Position { seen_at: last.seen_at, url: last.url.clone() }))
    } else {
        None
    };
    Ok(Json(NewsPage { articles, next_cursor }))
}
