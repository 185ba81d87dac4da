#!/bin/sh
# Entry point of the pycluster image: secrets from files, then the command.
#
# PYCLUSTER_AUTH_KEY_FILE and PYCLUSTER_API_TOKEN_FILE name files (Docker or Kubernetes
# secrets) whose content becomes PYCLUSTER_AUTH_KEY and PYCLUSTER_API_TOKEN, so a secret
# is never on a command line (ps shows those) nor in the image's configuration.
set -eu

from_file() {
    # $1: the variable to set, $2: the file that holds its value
    if [ ! -r "$2" ]; then
        echo "pycluster-entrypoint: cannot read $2 (named by ${1}_FILE): mount the secret there" >&2
        exit 78  # EX_CONFIG
    fi
    value=$(cat "$2")
    if [ -z "$value" ]; then
        echo "pycluster-entrypoint: $2 (named by ${1}_FILE) is empty" >&2
        exit 78
    fi
    export "$1=$value"
}

if [ -n "${PYCLUSTER_AUTH_KEY_FILE:-}" ]; then
    from_file PYCLUSTER_AUTH_KEY "$PYCLUSTER_AUTH_KEY_FILE"
fi
if [ -n "${PYCLUSTER_API_TOKEN_FILE:-}" ]; then
    from_file PYCLUSTER_API_TOKEN "$PYCLUSTER_API_TOKEN_FILE"
fi
unset value 2>/dev/null || true
exec "$@"
