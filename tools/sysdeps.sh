#!/usr/bin/env bash
# Install the system packages the tests need (chromium for the report, PostgreSQL for the
# warehouse parity tests, a Java runtime for Splink on Spark in local mode), only those
# missing, so a second run does nothing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# pyspark 4 runs on Java 17 or 21; Debian 12's default-jre-headless is 17.
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "sysdeps: missing ${need[*]}; run as root or install them" >&2
  exit 1
fi
echo "sysdeps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
