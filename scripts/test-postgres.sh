#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of studies shared through a database.
#
#   scripts/test-postgres.sh start   # initdb into a temp folder, start on a free localhost
#                                    # port, create a database; prints its SQLAlchemy URL
#   scripts/test-postgres.sh url     # prints the URL of the running server (exit 1 if none)
#   scripts/test-postgres.sh stop    # stops the server and deletes the folder
#
# Needs the Debian `postgresql` package (binaries in /usr/lib/postgresql/*/bin). PostgreSQL
# refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

DIR="${LAYERFORGE_PG_DIR:-${TMPDIR:-/tmp}/layerforge-test-postgres-$(id -u)}"
USER_NAME=layerforge
DB=layerforge_test

bin_dir() {
	if command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	local found
	found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$found" ]; then
		echo "test-postgres: expected PostgreSQL's binaries (pg_ctl, initdb); none found." \
			"Install them with: sudo apt-get install postgresql" >&2
		exit 1
	fi
	echo "$found"
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() {
	if [ -f "$DIR/url" ] && [ -f "$DIR/data/postmaster.pid" ]; then
		cat "$DIR/url"
	else
		echo "test-postgres: no server is running (start one with: $0 start)" >&2
		return 1
	fi
}

start() {
	if url 2>/dev/null; then
		return 0
	fi
	local bin port
	bin=$(bin_dir)
	rm -rf "$DIR"
	mkdir -p "$DIR"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || {
			echo "test-postgres: running as root needs the 'postgres' user (the Debian package" \
				"creates it)" >&2
			exit 1
		}
		chown postgres "$DIR"
	fi
	port=$(free_port)
	as_owner "$bin/initdb" -D "$DIR/data" -U "$USER_NAME" -A trust --no-sync >"$DIR/initdb.log" 2>&1 || {
		cat "$DIR/initdb.log" >&2
		exit 1
	}
	as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
		-o "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null || {
		cat "$DIR/server.log" >&2
		exit 1
	}
	"$bin/createdb" -h 127.0.0.1 -p "$port" -U "$USER_NAME" "$DB"
	echo "postgresql://$USER_NAME@127.0.0.1:$port/$DB" >"$DIR/url"
	cat "$DIR/url"
}

stop() {
	if [ -f "$DIR/data/postmaster.pid" ]; then
		as_owner "$(bin_dir)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
	fi
	rm -rf "$DIR"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) url ;;
*)
	echo "usage: $0 start|stop|url" >&2
	exit 2
	;;
esac
