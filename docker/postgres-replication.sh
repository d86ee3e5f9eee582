#!/bin/sh
# Run once by the postgres image when it creates the primary's data directory
# (docker-compose.yml mounts it into /docker-entrypoint-initdb.d): lets the streaming
# replica (service postgres-replica) connect for replication with the password.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
