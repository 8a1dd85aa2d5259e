#!/usr/bin/env bash
# Build and install TimescaleDB from the vendored source archive, once per machine (called by scripts/setup.sh).
#   scripts/timescaledb.sh               build + install unless already installed (then it only checks)
#   scripts/timescaledb.sh --needs-build exit 0 when a build is due (setup.sh then installs its packages)
#   TIMESCALEDB_ARCHIVE   the archive (default ../shared/vendor/timescaledb-2.28.3.tar.gz beside the project)
#   TIMESCALEDB_BUILD_DIR where it is extracted and built (default ~/.cache/madinina/timescaledb-2.28.3): the
#                         archive's directory may be read-only (CI), and the source/binaries never enter the repo.
# `make install` writes into the machine's PostgreSQL directories (lib/ and share/extension/), shared by every
# checkout: the files are identical for identical archives, so a stamp holding the archive's sha256 beside the
# control file says "already done" and a second run only checks. Exit 0 in every case but a failed build/verify:
# without the archive the project runs on plain PostgreSQL (DESIGN §2), and this says so.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=2.28.3
SHA256=c80abd42995a317d9c046da6499a7a6e63c58e188124a2f20580f7c82fa4b801
ARCHIVE="${TIMESCALEDB_ARCHIVE:-../shared/vendor/timescaledb-$VERSION.tar.gz}"
if [ -z "${TIMESCALEDB_ARCHIVE:-}" ] && [ ! -f "$ARCHIVE" ] && common="$(git rev-parse --path-format=absolute \
  --git-common-dir 2>/dev/null)" && [ -f "$common/../../shared/vendor/timescaledb-$VERSION.tar.gz" ]; then
  # A `git worktree` lives elsewhere: ../shared is then beside the main checkout.
  ARCHIVE="$(realpath "$common/../../shared/vendor/timescaledb-$VERSION.tar.gz")"
fi
BUILD_DIR="${TIMESCALEDB_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/madinina/timescaledb-$VERSION}"

log() { printf '\033[1;36m[timescaledb]\033[0m %s\n' "$*"; }

pg_ctl="$(compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" | sort -V | tail -1 || true)"
major=15  # Debian 12's PostgreSQL, what setup installs when there is none yet
[ -n "$pg_ctl" ] && major="$(basename "$(dirname "$(dirname "$pg_ctl")")")"
pg_config="/usr/lib/postgresql/$major/bin/pg_config"
ext_dir="/usr/share/postgresql/$major/extension"
stamp="$ext_dir/timescaledb.madinina-stamp"

present() {  # this version's files, from wherever they came
  [ -f "$ext_dir/timescaledb.control" ] && [ -f "/usr/lib/postgresql/$major/lib/timescaledb-$VERSION.so" ] &&
    grep -q "^default_version = '$VERSION'" "$ext_dir/timescaledb.control"
}
installed() {  # ... and installed from this archive
  present && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$SHA256" ]
}

if [ "${1:-}" = --needs-build ]; then  # for setup.sh: exit 0 when the build packages are needed
  ! installed && [ -f "$ARCHIVE" ]
  exit
fi
if installed; then
  log "TimescaleDB $VERSION already installed for PostgreSQL $major (stamp $stamp)"
  exit 0
fi
if [ ! -f "$ARCHIVE" ] && present; then
  log "TimescaleDB $VERSION is installed for PostgreSQL $major (not from the archive): using it"
  exit 0
fi
if [ ! -f "$ARCHIVE" ]; then
  log "archive $ARCHIVE not found: the embedded database will be plain PostgreSQL (same migrations, DESIGN §2)."
  log "For TimescaleDB: put timescaledb-$VERSION.tar.gz there (or set TIMESCALEDB_ARCHIVE), or install"
  log "Timescale's packages (https://docs.timescale.com/self-hosted/latest/install/) or use their image"
  log "(timescale/timescaledb-ha, see deploy/) and point DATABASE_URL at it."
  exit 0
fi
[ -x "$pg_config" ] || {
  echo "TimescaleDB needs postgresql-server-dev-$major (pg_config) and cmake: run scripts/setup.sh as root" >&2
  exit 1
}
if [ "$(id -u)" -ne 0 ]; then
  # Not an error: the project runs on plain PostgreSQL meanwhile (DESIGN §2).
  log "installing TimescaleDB writes into /usr/lib/postgresql/$major: run scripts/setup.sh as root (sudo) for it;"
  log "until then the embedded database is plain PostgreSQL"
  exit 0
fi

mkdir -p "$(dirname "$BUILD_DIR")"
# Several checkouts may run setup at once: one builds, the others wait and then find it installed.
exec 9>"$(dirname "$BUILD_DIR")/timescaledb.lock"
flock 9
if installed; then
  log "TimescaleDB $VERSION installed meanwhile by another setup"
  exit 0
fi

log "verifying $ARCHIVE"
echo "$SHA256  $ARCHIVE" | sha256sum --check --quiet - || {
  echo "checksum mismatch for $ARCHIVE (expected $SHA256): not building it" >&2
  exit 1
}
rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
tar -xzf "$ARCHIVE" -C "$BUILD_DIR" --strip-components=1
[ -x "$BUILD_DIR/bootstrap" ] || { echo "$ARCHIVE has no bootstrap at its top level" >&2; exit 1; }
jobs="$(nproc)"
log "building TimescaleDB $VERSION for PostgreSQL $major in $BUILD_DIR ($jobs jobs; ~2 min on 2 idle cores)"
(
  cd "$BUILD_DIR"
  ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$pg_config" \
    -DCMAKE_BUILD_TYPE=Release >"$BUILD_DIR/bootstrap.log" 2>&1 ||
    { tail -20 "$BUILD_DIR/bootstrap.log" >&2; exit 1; }
  cd build
  # make's own [NN%] lines are the progress; everything else goes to the log.
  set +o pipefail
  make -j"$jobs" 2>"$BUILD_DIR/make.err" | tee "$BUILD_DIR/make.log" |
    awk 'match($0, /^\[ *[0-9]+%\]/) { p = substr($0, RSTART, RLENGTH); if (p != last) { printf "%s ", p; fflush(); last = p } }'
  rc="${PIPESTATUS[0]}"
  set -o pipefail
  [ "$rc" -eq 0 ] || { echo; tail -20 "$BUILD_DIR/make.err" >&2; exit 1; }
  echo
  make install >"$BUILD_DIR/install.log" 2>&1 || { tail -20 "$BUILD_DIR/install.log" >&2; exit 1; }
)
echo "$SHA256" >"$stamp"
installed || { echo "TimescaleDB install did not leave $ext_dir/timescaledb.control at $VERSION" >&2; exit 1; }
log "TimescaleDB $VERSION installed for PostgreSQL $major"
