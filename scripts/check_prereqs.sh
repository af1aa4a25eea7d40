#!/usr/bin/env bash
# Check the prerequisites a make target needs, and say plainly what is missing.
# Usage: scripts/check_prereqs.sh [python] [java] [javac] [postgres] [pgjdbc] [node]
set -u
status=0
fail() { echo "missing prerequisite: $*" >&2; status=1; }

for need in "$@"; do
  case "$need" in
    python)
      py="${PYTHON:-python3.11}"
      if ! command -v "$py" >/dev/null 2>&1; then
        fail "$py not found. Install Python 3.11 (AWS Glue 5.0 runs 3.11), or set PYTHON=/path/to/python3.11"
      elif ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        fail "$py is $("$py" --version 2>&1), Python 3.11 is required (AWS Glue 5.0 runs 3.11)"
      elif ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        fail "$py has no venv/ensurepip module (Debian: apt-get install python3.11-venv)"
      fi
      ;;
    java)
      if ! command -v java >/dev/null 2>&1; then
        fail "java not found. Install a Java 17 runtime (Debian: apt-get install openjdk-17-jre-headless); Spark needs it"
      else
        major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
        if [ -z "$major" ] || [ "$major" -lt 17 ]; then
          fail "java is version '${major:-unknown}', Java 17 is required (AWS Glue 5.0 runs Java 17)"
        fi
      fi
      ;;
    javac)
      if ! command -v javac >/dev/null 2>&1; then
        fail "javac not found. Install a Java 17 JDK (Debian: apt-get install openjdk-17-jdk-headless); make install compiles the local Spark's per-run S3 file system (flightpipe/gluelocal/java)"
      fi
      ;;
    postgres)
      if [ -z "${DATABASE_URL:-}" ] && ! command -v initdb >/dev/null 2>&1 \
         && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        fail "PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin. Install them (Debian: apt-get install postgresql) or set DATABASE_URL to a PostgreSQL server the tests may create databases on"
      fi
      ;;
    pgjdbc)
      jar="${PG_JDBC_JAR:-/usr/share/java/postgresql.jar}"
      if [ ! -f "$jar" ]; then
        fail "the PostgreSQL JDBC driver is not at $jar. Install it (Debian: apt-get install libpostgresql-jdbc-java), or set PG_JDBC_JAR=/path/to/postgresql-42.x.jar"
      elif ! "${PYTHON:-python3}" -c 'import sys, zipfile; sys.exit("org/postgresql/Driver.class" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$jar" 2>/dev/null; then
        fail "$jar holds no org/postgresql/Driver.class: not a PostgreSQL JDBC driver"
      fi
      ;;
    node)
      if ! command -v npm >/dev/null 2>&1; then
        fail "npm not found. Install Node.js with npm (Debian: apt-get install npm); the state machine is checked with the npm package asl-validator"
      fi
      ;;
    *) echo "check_prereqs.sh: unknown prerequisite $need" >&2; exit 2 ;;
  esac
done
exit $status
