#!/bin/sh
# kantine gateway: install or update as a systemd service on Debian, Ubuntu or Raspberry Pi OS
# (a school PC or a Raspberry Pi 4/5), as root, from inside a kantine installation (the
# repository at /opt/kantine after `npm ci --omit=dev`, see docs/operations/gateway.md).
#
#   sudo gateway/deploy/install.sh [--config gateway.json]
#   gateway/deploy/install.sh --root DIR [--config …]
#                          lay everything out under DIR instead (a test root): no users, no
#                          chown, no systemctl
#
# It creates the service user kantine-gateway, its state directory /var/lib/kantine-gateway
# (0700: the ledger, the site CA, the releases), installs the config as /etc/kantine/gateway.json
# (0640, never overwriting one already there), the command /usr/local/bin/kantine-gateway and
# the systemd unit, and (re)starts the gateway when there is a config. Run it again after an
# upgrade: it changes only what the new version changed.
set -eu

ROOT=""
CONFIG=""
SERVICE_USER=kantine-gateway
STATE=/var/lib/kantine-gateway
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
APP=$(CDPATH='' cd -- "$DEPLOY_DIR/../.." && pwd)

say() { printf 'kantine-gateway install: %s\n' "$*"; }
fail() {
  printf 'kantine-gateway install: error: %s\n' "$*" >&2
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
    -h | --help)
      sed -n '2,16p' "$0"
      exit 0
      ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || fail "--root $ROOT is not a directory"
  ROOT=$(CDPATH='' cd -- "$ROOT" && pwd)
  say "test root $ROOT: users, ownership and systemctl are left alone"
elif [ "$(id -u)" -ne 0 ]; then
  fail "run as root: sudo $0"
fi

if [ ! -f "$APP/gateway/bin/kantine-gateway.mjs" ] || [ ! -f "$APP/package.json" ]; then
  fail "$APP is not a kantine installation (gateway/bin/kantine-gateway.mjs)"
fi
if [ ! -d "$APP/node_modules/tsx" ] || [ ! -d "$APP/node_modules/better-sqlite3" ]; then
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

# ── State: the ledger, the site CA and the releases, for the service user alone ────────────────
mkdir -p "$ROOT$STATE"
chmod 0700 "$ROOT$STATE"
if [ -z "$ROOT" ]; then chown "$SERVICE_USER:$SERVICE_USER" "$STATE"; fi

# ── Config: never overwritten (it may hold the site's secret for central) ──────────────────────
mkdir -p "$ROOT/etc/kantine"
chmod 0755 "$ROOT/etc/kantine"
if [ -n "$CONFIG" ]; then
  if [ -f "$ROOT/etc/kantine/gateway.json" ]; then
    say "keeping the config already in /etc/kantine/gateway.json"
  else
    install -m 0640 "$CONFIG" "$ROOT/etc/kantine/gateway.json"
    if [ -z "$ROOT" ]; then chown "root:$SERVICE_USER" /etc/kantine/gateway.json; fi
    say "installed the config as /etc/kantine/gateway.json"
  fi
fi

# ── The command, for IT (run it as the service user: sudo -u kantine-gateway kantine-gateway …) ─
mkdir -p "$ROOT/usr/local/bin"
ln -sfn "$APP/gateway/bin/kantine-gateway.mjs" "$ROOT/usr/local/bin/kantine-gateway"

# ── systemd ────────────────────────────────────────────────────────────────────────────────────
UNIT="$ROOT/etc/systemd/system/kantine-gateway.service"
mkdir -p "$ROOT/etc/systemd/system"
sed -e "s|@NODE@|$NODE|" -e "s|@APP@|$APP|" "$DEPLOY_DIR/kantine-gateway.service" >"$UNIT.new"
chmod 0644 "$UNIT.new"
if [ -f "$UNIT" ] && cmp -s "$UNIT.new" "$UNIT"; then
  rm "$UNIT.new"
  say "the unit is unchanged"
else
  mv "$UNIT.new" "$UNIT"
  say "installed the unit kantine-gateway.service"
fi
if [ -z "$ROOT" ]; then
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable kantine-gateway.service
    if [ -f /etc/kantine/gateway.json ]; then
      systemctl restart kantine-gateway.service
      say "the gateway runs: journalctl -u kantine-gateway -f"
    else
      say "no /etc/kantine/gateway.json yet: put it there (\"database\": \"$STATE/gateway.db\"), then: systemctl start kantine-gateway"
    fi
  else
    say "systemd is not running here: start the gateway by hand"
  fi
fi
say "done: $APP ($("$NODE" -p 'require(process.argv[1]).version' "$APP/package.json")), node $version"
