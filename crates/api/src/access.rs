//! The database side of every request: one transaction as `signalcraft_reader` (or
//! `signalcraft_editor` for rule writes) with `signalcraft.tenant_id` set to the session tenant
//! of the request's [`Scope`], so row-level security filters every row whatever the handler's
//! query asks for. A statement timeout bounds what any one request can cost the database.

use sqlx::{PgPool, Postgres, Transaction};

use crate::{auth::Scope, problem::Problem};

/// Longest any statement of an API request may run.
const STATEMENT_TIMEOUT: &str = "5s";

/// The database role a transaction runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// Reads tenant rows (and public ones) under row-level security.
    Reader,
    /// Also writes its tenant's alert rules and their audit rows.
    Editor,
}

impl DbRole {
    fn name(self) -> &'static str {
        match self {
            DbRole::Reader => "signalcraft_reader",
            DbRole::Editor => "signalcraft_editor",
        }
    }
}

/// A transaction walled to `scope`'s session tenant, as `role`. Dropped without commit, it
/// rolls back.
pub async fn begin(pool: &PgPool, scope: &Scope, role: DbRole) -> Result<Transaction<'static, Postgres>, Problem> {
    let mut transaction = pool.begin().await.map_err(|error| Problem::database(error, "starting a transaction"))?;
    // All three settings are LOCAL (the `true`): they end with the transaction, so a pooled
    // connection never carries one request's role or tenant into the next.
    sqlx::query(
        "SELECT set_config('statement_timeout', $1, true), set_config('signalcraft.tenant_id', $2, true), \
                set_config('role', $3, true)",
    )
    .bind(STATEMENT_TIMEOUT)
    .bind(scope.session_tenant.as_str())
    .bind(role.name())
    .execute(&mut *transaction)
    .await
    .map_err(|error| Problem::database(error, "entering the tenant's session"))?;
    Ok(transaction)
}

/// Checks that the API's login may act as both roles, so a missing grant is reported once at
/// start, naming the setting, rather than as a 500 on every request.
pub async fn check_roles(pool: &PgPool) -> Result<(), String> {
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(pool)
        .await
        .map_err(|error| format!("asking the database who the API is: {error}"))?;
    for role in [DbRole::Reader, DbRole::Editor] {
        let may: bool = sqlx::query_scalar("SELECT pg_has_role(current_user, $1, 'MEMBER')")
            .bind(role.name())
            .fetch_one(pool)
            .await
            .map_err(|error| format!("checking the role {}: {error}", role.name()))?;
        if !may {
            return Err(format!(
                "the API's database login `{user}` may not act as {role}: `GRANT {role} TO \"{user}\"`, or set \
                 api.database_url (SIGNALCRAFT_API__DATABASE_URL) to a login that may",
                role = role.name()
            ));
        }
    }
    Ok(())
}
