# PostgreSQL 15 with the official image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB.
# (TimescaleDB itself is not packaged for this base; the reference system uses plain tables then.)
FROM chaoslib/base:local
ENV PGDATA=/var/lib/postgresql/data
COPY docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
