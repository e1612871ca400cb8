#!/usr/bin/env bash
# expect.sh RC PATTERN -- COMMAND...: run COMMAND (stdin closed), pass when it exits with RC (never by a signal)
# and its stderr (one line, the error) matches the extended regex PATTERN. Used by the reliability suite
# (issue 15): each hostile input must give one clear line and a plain non-zero exit, no crash.
set -u
want="$1"; pat="$2"; shift 2
[ "$1" = "--" ] && shift
err=$(mktemp)
"$@" </dev/null >/dev/null 2>"$err"
rc=$?
msg=$(cat "$err"); rm -f "$err"
if [ "$rc" -ge 128 ]; then echo "FAIL: killed by signal $((rc - 128)): $*"; echo "$msg" | tail -5; exit 1; fi
if [ "$rc" != "$want" ]; then echo "FAIL: exit $rc, expected $want: $*"; echo "$msg" | tail -5; exit 1; fi
if ! grep -Eq -- "$pat" <<<"$msg"; then echo "FAIL: stderr does not match /$pat/: $*"; echo "$msg" | tail -5; exit 1; fi
echo "ok: exit $rc: $(head -c 400 <<<"$msg")"
