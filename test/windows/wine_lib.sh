# Shared by the Wine tests (wine_driver.sh, wine_hvctl.sh); sourced, not run.
# Expects WORK (a directory) and defines WINE, WINESERVER, the transcript
# helpers (say, check, w, has) and wine_prefix, which makes a fresh headless
# prefix and starts a persistent wineserver (killed, bounded, on exit).
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
[ -x "$WINE" ] || { echo "SKIP: $WINE missing (apt-get install wine64)"; exit 77; }

export WINEPREFIX=$WORK/prefix HOME=$WORK DISPLAY= WAYLAND_DISPLAY=
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d" WINEDEBUG=-all
OUT=$WORK/transcript.txt
FAILS=0
: > "$OUT"

# Wine's services and winedevice.exe outlive the command that started them
# and inherit its stdout/stderr: every wine command writes to files only,
# and the server is always killed (bounded) on the way out.
wine_cleanup() { timeout 30 "$WINESERVER" -k > /dev/null 2>&1 || true; }
trap wine_cleanup EXIT

say() { echo "$*" | tee -a "$OUT"; }
check() { # check "what" command...
  local what=$1; shift
  if "$@"; then say "ok   $what"; else say "FAIL $what"; FAILS=$((FAILS + 1)); fi
}
# Run a wine command (bounded), its output (CRs removed) into the transcript.
w() {
  local f=$WORK/cmd.out
  timeout 60 "$WINE" "$@" < /dev/null > "$f" 2>&1
  local rc=$?
  tr -d '\r' < "$f" | grep -v '^[[:space:]]*$' | sed 's/^/    /' | tee -a "$OUT"
  say "    (exit $rc)"
  tr -d '\r' < "$f" > "$WORK/last.out"
  return $rc
}
has() { grep -qE -- "$1" "${2:-$WORK/last.out}"; }

wine_prefix() {
  say "== fresh prefix $WINEPREFIX"
  rm -rf "$WINEPREFIX"
  local t0
  t0=$(date +%s)
  timeout 300 "$WINE" wineboot --init < /dev/null > "$WORK/wineboot.log" 2>&1
  timeout 60 "$WINESERVER" -w
  say "    wineboot: $(( $(date +%s) - t0 )) s"
  # No crash dialog/debugger if something dies: the test sees it as a dead process.
  timeout 60 "$WINE" reg delete 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug' /v Debugger /f \
    < /dev/null > /dev/null 2>&1
  timeout 60 "$WINESERVER" -w
  # A persistent server: otherwise it exits a few seconds after the last
  # program, taking services.exe and winedevice.exe (and a driver) with it.
  "$WINESERVER" -p < /dev/null > /dev/null 2>&1
}
