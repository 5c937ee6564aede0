#!/bin/sh
# Create the secret files deploy/docker-compose.yml mounts, with random values:
#
#   db_password   the PostgreSQL password (POSTGRES_PASSWORD_FILE of the db service)
#   db_url        postgresql://factory:<password>@db:5432/factory (FACTORY_DB_URL_FILE)
#   api_token     the bearer token of `factory serve` (FACTORY_API__TOKEN_FILE)
#
# Usage: deploy/make-secrets.sh [DIR]   (default: deploy/secrets next to this script)
#
# Existing files are kept, so running it again changes nothing; delete a file to draw a
# new value (see "Rotate the API token" in docs/operations.md). The directory is 0700;
# the files are 0644 because the containers' users (postgres, uid 10001) must read them
# through the bind mounts that compose uses for file secrets.
set -eu

dir=${1:-"$(dirname "$0")/secrets"}
mkdir -p "$dir"
chmod 700 "$dir"

random_hex() {
    # 32 random bytes as 64 hex characters: safe in a URL without escaping.
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

write() {  # write FILE VALUE: only when FILE does not exist yet
    if [ -e "$1" ]; then
        echo "kept $1"
        return
    fi
    (umask 022 && printf '%s\n' "$2" > "$1")
    echo "wrote $1"
}

write "$dir/db_password" "$(random_hex)"
password=$(cat "$dir/db_password")
write "$dir/db_url" "postgresql://factory:${password}@db:5432/factory"
write "$dir/api_token" "$(random_hex)"
