//! The database schema: the sqlx migrations in `migrations/` at the repository root, embedded at
//! compile time (`build.rs` rebuilds the crate when one changes) and applied on every start.

/// Applies every pending migration in `migrations/` (idempotent; safe on every start).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}
