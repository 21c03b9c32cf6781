#!/bin/sh
# Creates the application's PostgreSQL role in $POSTGRES_DB: it logs in, owns the schema "activations" (where the
# migrations put every table: its search_path points there) and nothing else. Not a superuser, cannot create
# databases or roles, cannot replicate or bypass row security; PUBLIC loses CONNECT on the database and CREATE on
# schema public. The coordinator connects (and migrates) as this role; the superuser stays with the operators.
#
# The postgres image runs it once, at the first start (mounted into /docker-entrypoint-initdb.d), with:
#   POSTGRES_USER, POSTGRES_DB            the superuser and the database (the image's own variables)
#   APP_DB_USER, APP_DB_PASSWORD          the application's role
# Elsewhere (a managed database, the tests) run it with PGHOST/PGPORT/PGPASSWORD pointing at the server as a role
# that may create roles. Idempotent for the grants; fails if the role already exists.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}" "${APP_DB_USER:?set APP_DB_USER}" "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app="$APP_DB_USER" -v pw="$APP_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app" LOGIN PASSWORD :'pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 64;
-- On PostgreSQL 16+ a CREATEROLE account (a managed service's master user) may not act as the role it made without this.
GRANT :"app" TO CURRENT_USER;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS activations AUTHORIZATION :"app";
ALTER ROLE :"app" IN DATABASE :"db" SET search_path = activations;
SQL
