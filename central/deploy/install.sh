#!/bin/sh
# kantine central: install or update its workers as systemd services on a Debian host (with
# Postgres and Mosquitto, here or elsewhere), as root, from inside a kantine installation (the
# repository at /opt/kantine after `npm ci --omit=dev`, see docs/operations/central.md).
#
#   sudo central/deploy/install.sh [--config central.json] [--workers 8090,8091]
#   central/deploy/install.sh --root DIR [--config …] [--workers …]
#                          lay everything out under DIR instead (a test root): no users, no
#                          chown, no systemctl
#
# It creates the service user kantine-central, its state directory /var/lib/kantine-central
# (0700), installs the config as /etc/kantine/central.json (0640, never overwriting one already
# there), the command /usr/local/bin/kantine-central and the template unit
# kantine-central@.service, one worker per API port (default: one, on 8090), and (re)starts the
# workers when there is a config. Run it again after an upgrade.
set -eu

ROOT=""
CONFIG=""
WORKERS=8090
SERVICE_USER=kantine-central
STATE=/var/lib/kantine-central
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
APP=$(CDPATH='' cd -- "$DEPLOY_DIR/../.." && pwd)

say() { printf 'kantine-central install: %s\n' "$*"; }
fail() {
  printf 'kantine-central install: error: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --root)
      [ $# -ge 2 ] || fail "--root needs a directory"
      ROOT=$2
      shift 2
      ;;
    --config)
      [ $# -ge 2 ] || fail "--config needs a file"
      CONFIG=$2
      shift 2
      ;;
    --workers)
      [ $# -ge 2 ] || fail "--workers needs API ports, e.g. 8090,8091"
      WORKERS=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,16p' "$0"
      exit 0
      ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

PORTS=$(printf '%s' "$WORKERS" | tr ',' ' ')
for port in $PORTS; do
  case "$port" in
    '' | *[!0-9]*) fail "--workers: $port is not a port" ;;
  esac
  if [ "$port" -lt 1024 ] || [ "$port" -gt 65535 ]; then fail "--workers: $port is not a port from 1024 to 65535"; fi
done
[ -n "$PORTS" ] || fail "--workers needs at least one API port"

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || fail "--root $ROOT is not a directory"
  ROOT=$(CDPATH='' cd -- "$ROOT" && pwd)
  say "test root $ROOT: users, ownership and systemctl are left alone"
elif [ "$(id -u)" -ne 0 ]; then
  fail "run as root: sudo $0"
fi

if [ ! -f "$APP/central/bin/kantine-central.mjs" ] || [ ! -f "$APP/package.json" ]; then
  fail "$APP is not a kantine installation (central/bin/kantine-central.mjs)"
fi
if [ ! -d "$APP/node_modules/tsx" ] || [ ! -d "$APP/node_modules/pg" ]; then
  fail "$APP has no dependencies installed: cd $APP && npm ci --omit=dev"
fi
if [ -z "$ROOT" ]; then
  case "$APP/" in
    /home/* | /root/*) fail "$APP is under a home directory, which the service cannot read (ProtectHome): put kantine in /opt/kantine" ;;
  esac
fi
if [ -n "$CONFIG" ] && [ ! -f "$CONFIG" ]; then fail "--config $CONFIG does not exist"; fi

# ── Node ───────────────────────────────────────────────────────────────────────────────────────
NODE=$(command -v node || true)
[ -n "$NODE" ] || fail "node is not installed: install Node.js ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or later (Node 22 LTS recommended), e.g. from nodesource.com"
version=$("$NODE" -p 'process.versions.node')
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
if [ "$major" -lt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -lt "$NODE_MIN_MINOR" ]; }; then
  fail "node $version is too old: kantine needs ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} or later"
fi

# ── Service user ───────────────────────────────────────────────────────────────────────────────
if [ -z "$ROOT" ] && ! id "$SERVICE_USER" >/dev/null 2>&1; then
  say "creating the service user $SERVICE_USER"
  useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# ── State (the embedded database only; with Postgres it stays empty) ───────────────────────────
mkdir -p "$ROOT$STATE"
chmod 0700 "$ROOT$STATE"
if [ -z "$ROOT" ]; then chown "$SERVICE_USER:$SERVICE_USER" "$STATE"; fi

# ── Config: never overwritten (it holds the database's and the broker's passwords)
mkdir -p "$ROOT/etc/kantine"
chmod 0755 "$ROOT/etc/kantine"
if [ -n "$CONFIG" ]; then
  if [ -f "$ROOT/etc/kantine/central.json" ]; then
    say "keeping the config already in /etc/kantine/central.json"
  else
    install -m 0640 "$CONFIG" "$ROOT/etc/kantine/central.json"
    if [ -z "$ROOT" ]; then chown "root:$SERVICE_USER" /etc/kantine/central.json; fi
    say "installed the config as /etc/kantine/central.json"
  fi
fi

# ── The command ────────────────────────────────────────────────────────────────────────────────
mkdir -p "$ROOT/usr/local/bin"
ln -sfn "$APP/central/bin/kantine-central.mjs" "$ROOT/usr/local/bin/kantine-central"

# ── systemd: one template unit, one instance per worker ────────────────────────────────────────
UNIT="$ROOT/etc/systemd/system/kantine-central@.service"
mkdir -p "$ROOT/etc/systemd/system"
sed -e "s|@NODE@|$NODE|" -e "s|@APP@|$APP|" "$DEPLOY_DIR/kantine-central@.service" >"$UNIT.new"
chmod 0644 "$UNIT.new"
if [ -f "$UNIT" ] && cmp -s "$UNIT.new" "$UNIT"; then
  rm "$UNIT.new"
  say "the unit is unchanged"
else
  mv "$UNIT.new" "$UNIT"
  say "installed the unit kantine-central@.service"
fi
instances=""
for port in $PORTS; do instances="$instances kantine-central@$port.service"; done
if [ -z "$ROOT" ]; then
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    # shellcheck disable=SC2086 # one word per instance
    systemctl enable $instances
    if [ -f /etc/kantine/central.json ]; then
      # shellcheck disable=SC2086
      systemctl restart $instances
      say "the workers run:$instances (journalctl -u 'kantine-central@*' -f)"
    else
      say "no /etc/kantine/central.json yet: put it there, then: systemctl start$instances"
    fi
  else
    say "systemd is not running here: start the workers by hand"
  fi
else
  # what `systemctl enable` would do, so the test root shows the workers
  mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
  for port in $PORTS; do
    ln -sfn /etc/systemd/system/kantine-central@.service "$ROOT/etc/systemd/system/multi-user.target.wants/kantine-central@$port.service"
  done
fi
say "workers:$instances"
say "done: $APP ($("$NODE" -p 'require(process.argv[1]).version' "$APP/package.json")), node $version"
