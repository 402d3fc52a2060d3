#!/usr/bin/env bash
# Write the git-ignored secrets docker-compose.yml reads: a random PostgreSQL password, a random
# key-encryption key, and a dev JWT key pair for the provisioning admin API.
# Safe to re-run: existing files are kept (pass --force to replace them; that makes data sealed
# with the old KEK unreadable, so also run `docker compose down -v`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1
umask 077

random_b64() { python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())'; }
random_hex() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }

if [[ ! -f "${HERE}/postgres.env" || ! -f "${HERE}/byosms.env" || ${FORCE} == 1 ]]; then
    password="$(random_hex)"
    kek="$(random_b64)"
    printf 'POSTGRES_PASSWORD=%s\n' "${password}" >"${HERE}/postgres.env"
    {
        printf 'BYOSMS_DATABASE_URL=postgresql://byosms:%s@postgres:5432/byosms\n' "${password}"
        # Single quotes: compose takes the JSON literally.
        printf "BYOSMS_KEKS='{\"compose-1\": \"%s\"}'\n" "${kek}"
        printf 'BYOSMS_ACTIVE_KEK=compose-1\n'
    } >"${HERE}/byosms.env"
    echo "wrote ${HERE}/postgres.env and ${HERE}/byosms.env"
fi

mkdir -p "${HERE}/secrets"
if [[ ! -f "${HERE}/secrets/jwt-public.pem" || ${FORCE} == 1 ]]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "${HERE}/secrets/jwt-private.pem"
    openssl pkey -in "${HERE}/secrets/jwt-private.pem" -pubout -out "${HERE}/secrets/jwt-public.pem"
    # The container user (uid 10001) must read the keys through the bind mounts: the public key
    # (provisioning) and, for the console's development login on this local stack only, the private key.
    chmod 0644 "${HERE}/secrets/jwt-public.pem" "${HERE}/secrets/jwt-private.pem"
    chmod 0755 "${HERE}/secrets"
    echo "wrote ${HERE}/secrets/jwt-{private,public}.pem (ES256; sign admin API tokens with the private key)"
fi
