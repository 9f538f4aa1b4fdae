#!/bin/sh
# kantine reader: install or update on Raspberry Pi OS (Debian bookworm or later), as root.
#
#   sudo ./install.sh [--config reader.json] [--release-key kantine-release.pub.pem]
#                          from inside an unpacked reader release
#   ./install.sh --root DIR [--config …] [--release-key …]
#                          lay everything out under DIR instead (a test root): no packages, no
#                          kernel, no users, no systemctl
#
# It installs pcscd and the CCID driver, keeps the kernel's pn533 NFC drivers off the reader,
# creates the service user kantine-reader, copies the release into the idle one of two slots
# (/opt/kantine-reader/slots/a and b; `current` points at the one in use) with the launcher that
# rolls back a failed update, installs the config (never overwriting one already there), the
# public release key updates are checked with, and the systemd unit, and starts the reader.
set -eu

ROOT=""
CONFIG=""
RELEASE_KEY=""
SERVICE_USER=kantine-reader
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
RELEASE_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

say() { printf 'kantine-reader install: %s\n' "$*"; }
fail() {
  printf 'kantine-reader install: error: %s\n' "$*" >&2
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
    --release-key)
      [ $# -ge 2 ] || fail "--release-key needs a file"
      RELEASE_KEY=$2
      shift 2
      ;;
    -h | --help)
      sed -n '2,14p' "$0"
      exit 0
      ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || fail "--root $ROOT is not a directory"
  ROOT=$(CDPATH='' cd -- "$ROOT" && pwd)
  say "test root $ROOT: packages, kernel modules, users and systemctl are left alone"
elif [ "$(id -u)" -ne 0 ]; then
  fail "run as root: sudo $0"
fi

if [ ! -f "$RELEASE_DIR/manifest.json" ] || [ ! -f "$RELEASE_DIR/app/kantine-reader.mjs" ]; then
  fail "$RELEASE_DIR is not an unpacked reader release (manifest.json, app/kantine-reader.mjs)"
fi
if [ -n "$CONFIG" ] && [ ! -f "$CONFIG" ]; then fail "--config $CONFIG does not exist"; fi
if [ -n "$RELEASE_KEY" ] && [ ! -f "$RELEASE_KEY" ]; then fail "--release-key $RELEASE_KEY does not exist"; fi

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

# ── Packages: pcscd and the CCID driver (ACR122U and other USB readers) ─────────────────────────
if [ -z "$ROOT" ]; then
  say "installing pcscd and the CCID driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends pcscd libccid pcsc-tools
fi

# ── The kernel's NFC drivers hold an ACR122U away from pcscd ───────────────────────────────────
install -D -m 0644 "$RELEASE_DIR/deploy/blacklist-nfc.conf" "$ROOT/etc/modprobe.d/kantine-blacklist-nfc.conf"
if [ -z "$ROOT" ]; then
  for module in pn533_usb pn533 nfc; do
    if grep -q "^$module " /proc/modules 2>/dev/null; then
      say "unloading the kernel module $module"
      modprobe -r "$module" || say "could not unload $module: unplug and replug the reader, or reboot"
    fi
  done
fi
install -D -m 0644 "$RELEASE_DIR/deploy/pcscd-kantine-reader.rules" "$ROOT/etc/polkit-1/rules.d/50-kantine-reader-pcscd.rules"

# ── LED and buzzer: the CCID driver passes a reader's escape commands only when allowed ────────
# (ifdDriverOptions bit 0x0001, DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED; the reader sets the
# ACR122U's LED and buzzer through it). Other bits are kept.
CCID_PLIST="$ROOT/etc/libccid_Info.plist"
CCID_CHANGED=""
if [ -f "$CCID_PLIST" ]; then
  options=$(sed -n '/<key>ifdDriverOptions<\/key>/{n;s/.*<string>\(0x[0-9A-Fa-f]*\)<\/string>.*/\1/p;}' "$CCID_PLIST")
  [ -n "$options" ] || fail "cannot read ifdDriverOptions in $CCID_PLIST"
  if [ $((options & 1)) -eq 0 ]; then
    wanted=$(printf '0x%04X' $((options | 1)))
    sed -i "/<key>ifdDriverOptions<\/key>/{n;s|<string>$options</string>|<string>$wanted</string>|;}" "$CCID_PLIST"
    say "the CCID driver now passes escape commands (LED and buzzer): ifdDriverOptions $options -> $wanted"
    CCID_CHANGED=1
  fi
else
  say "no $CCID_PLIST (libccid): the reader's LED and buzzer are left as the reader sets them"
fi

# ── Service user ───────────────────────────────────────────────────────────────────────────────
if [ -z "$ROOT" ]; then
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating the service user $SERVICE_USER"
    useradd --system --user-group --home-dir /var/lib/kantine-reader --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  OWNER="root:$SERVICE_USER"
else
  OWNER=""
fi

# ── The release, into the idle slot ────────────────────────────────────────────────────────────
BASE="$ROOT/opt/kantine-reader"
mkdir -p "$BASE/slots"
slot=a
if [ -L "$BASE/current" ] && [ "$(readlink "$BASE/current")" = "slots/a" ]; then slot=b; fi
say "installing the release into slot $slot"
rm -rf "$BASE/slots/$slot"
mkdir -p "$BASE/slots/$slot"
cp -R "$RELEASE_DIR/app" "$RELEASE_DIR/manifest.json" "$BASE/slots/$slot/"
if [ -f "$RELEASE_DIR/manifest.sig" ]; then cp "$RELEASE_DIR/manifest.sig" "$BASE/slots/$slot/"; fi
if [ -f "$BASE/slots/$slot/app/package.json" ] && [ -z "$ROOT" ]; then
  # nfc-pcsc's reader classes and koffi, whose prebuilt binary for this Pi comes as an npm
  # package: the reader calls libpcsclite (with pcscd) through koffi, so nothing is compiled.
  # (nfc-pcsc's own native binding is never loaded; its build script is not run.)
  (cd "$BASE/slots/$slot/app" && npm install --omit=dev --ignore-scripts --no-audit --no-fund)
fi
if [ -L "$BASE/current" ]; then
  ln -sfn "$(readlink "$BASE/current")" "$BASE/previous"
fi
ln -sfn "slots/$slot" "$BASE/current"
install -m 0755 "$RELEASE_DIR/deploy/launch.sh" "$BASE/launch.sh"
# An update the reader had pending is overtaken by this install: launch.sh must not roll it back.
rm -rf "$ROOT/var/lib/kantine-reader/update"

# ── Config: never overwritten (it holds the reader's own secret) ───────────────────────────────
mkdir -p "$ROOT/etc/kantine" "$ROOT/var/lib/kantine-reader"
if [ -n "$CONFIG" ]; then
  if [ -f "$ROOT/etc/kantine/reader.json" ]; then
    say "keeping the config already in /etc/kantine/reader.json"
  else
    install -m 0640 "$CONFIG" "$ROOT/etc/kantine/reader.json"
  fi
fi
if [ -n "$RELEASE_KEY" ]; then install -m 0644 "$RELEASE_KEY" "$ROOT/etc/kantine/release.pub.pem"; fi
if [ -n "$OWNER" ]; then
  [ -f "$ROOT/etc/kantine/reader.json" ] && chown "$OWNER" "$ROOT/etc/kantine/reader.json"
  chown "$SERVICE_USER:$SERVICE_USER" "$ROOT/var/lib/kantine-reader"
  # the reader installs updates into its idle slot and switches `current` itself
  chown -R "$SERVICE_USER:$SERVICE_USER" "$BASE"
fi

# ── systemd ────────────────────────────────────────────────────────────────────────────────────
mkdir -p "$ROOT/etc/systemd/system"
sed "s|@NODE@|$NODE|" "$RELEASE_DIR/deploy/kantine-reader.service" >"$ROOT/etc/systemd/system/kantine-reader.service"
chmod 0644 "$ROOT/etc/systemd/system/kantine-reader.service"
if [ -z "$ROOT" ]; then
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now pcscd.socket
    # pcscd reads the CCID driver's options when it loads the driver
    if [ -n "$CCID_CHANGED" ]; then systemctl try-restart pcscd.service; fi
    if [ -f /etc/kantine/reader.json ]; then
      systemctl enable kantine-reader.service
      systemctl restart kantine-reader.service
      say "the reader runs: journalctl -u kantine-reader -f"
    else
      systemctl enable kantine-reader.service
      say "no /etc/kantine/reader.json yet: put it there, then: systemctl start kantine-reader"
    fi
  else
    say "systemd is not running here: start the reader by hand or boot the Pi"
  fi
fi
say "done: release $("$NODE" -p 'require(process.argv[1]).version' "$BASE/current/manifest.json") in slot $slot"
