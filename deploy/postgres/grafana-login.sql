-- deploy/postgres/grafana-login.sql: the login Grafana's PostgreSQL data source uses, a member
-- of `signalcraft_reader` and of nothing else, so it reads only what row-level security lets
-- the reader see (the tenant a query names, and public rows) and writes nothing. Run it as the
-- database's owner after the migrations (which create `signalcraft_reader`); safe to run again
-- (the password is set anew, any other membership revoked):
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v login=signalcraft_grafana \
--        -v password="$SIGNALCRAFT_GRAFANA_DB_PASSWORD" -f deploy/postgres/grafana-login.sql
--
-- docker-compose.yml runs it once (service `grafana-login`). The password is a psql variable,
-- quoted by format(%L), never part of the file; psql does not echo the statements it runs.

SELECT format('CREATE ROLE %I LOGIN', :'login')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'login') \gexec

SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT '
              'CONNECTION LIMIT 20 PASSWORD %L', :'login', :'password') \gexec

-- A dashboard query never needs long; a runaway one must not hold a connection.
SELECT format('ALTER ROLE %I SET statement_timeout = %L', :'login', '30s') \gexec

SELECT format('REVOKE %I FROM %I', r.rolname, :'login')
FROM pg_auth_members m
JOIN pg_roles r ON r.oid = m.roleid
JOIN pg_roles l ON l.oid = m.member
WHERE l.rolname = :'login' AND r.rolname <> 'signalcraft_reader' \gexec

SELECT format('GRANT signalcraft_reader TO %I', :'login') \gexec
