#!/usr/bin/env bash
# cases.sh CASE BIN_DIR: the reliability cases of issue 15 that need a scene (folders, links, a full disk) or
# compare two outputs. Exit 0 = pass, 1 = fail, 77 = skipped (e.g. no permission to mount a tmpfs).
set -u
case_="$1"; B="$2"
H="$(cd "$(dirname "$0")/../fixtures/hostile" && pwd)"
REC="$(cd "$(dirname "$0")/../fuzz/corpus/runrecord" && pwd)/record_small.h5"
T=$(mktemp -d /tmp/dml-rel-XXXXXX)
cleanup() { [ -n "${MNT:-}" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

case "$case_" in
huge_values)  # 100 x 8 embeddings near ±1.7e38: every metric is scale invariant, so the values must equal those of
              # the same data ×2^-127 (k-means assigned -1 and dml_metric_nmi crashed before)
  "$B/dml-eval" "$H/plain_huge_values.h5" --metrics e_recall@1,e_recall@4,nmi,f1,mAP_c >"$T/a" 2>"$T/ea" || fail "exit $?: $(cat "$T/ea")"
  "$B/dml-eval" "$H/plain_huge_values_scaled.h5" --metrics e_recall@1,e_recall@4,nmi,f1,mAP_c >"$T/b" 2>"$T/eb" || fail "scaled: $(cat "$T/eb")"
  grep -q nmi "$T/a" || fail "no nmi in $(cat "$T/a")"
  diff <(tail -n +2 "$T/a") <(tail -n +2 "$T/b") || fail "values differ from the scaled copy"
  cat "$T/a" ;;
symlink_loop)  # a folder that links to itself and a second link to the record: one record, counted once
  mkdir -p "$T/runs/d/g_s0"; cp "$REC" "$T/runs/d/g_s0/run.h5"
  ln -s .. "$T/runs/d/g_s0/loop"; ln -s "$T/runs/d/g_s0/run.h5" "$T/runs/d/alias.h5"; ln -s "$T/runs" "$T/runs/d/up"
  "$B/dml-aggregate" "$T/runs" --out "$T/agg.json" 2>"$T/err" || fail "exit $?: $(cat "$T/err")"
  grep -q "1 runs" "$T/err" || fail "expected 1 run: $(cat "$T/err")"
  cat "$T/err" ;;
stdout_full)  # a failed stdout write (/dev/full) exits non-zero with the cause
  [ -w /dev/full ] || { echo "no /dev/full"; exit 77; }
  "$B/dml-aggregate" "$REC" >/dev/full 2>"$T/err"; rc=$?
  [ $rc = 1 ] && grep -q "No space left on device" "$T/err" || fail "dml-aggregate > /dev/full: exit $rc: $(cat "$T/err")"
  "$B/dml-aggregate" "$REC" --out "$T/agg.json" 2>/dev/null || fail "aggregate"
  "$B/dml-table" "$T/agg.json" >/dev/full 2>"$T/err"; rc=$?
  [ $rc = 1 ] && grep -q "No space left on device" "$T/err" || fail "dml-table > /dev/full: exit $rc: $(cat "$T/err")"
  echo "ok: $(cat "$T/err")" ;;
device_outputs)  # outputs are never renamed over a device node or a folder, and nothing is written beside them
  [ -c /dev/full ] || { echo "no /dev/full"; exit 77; }
  "$B/dml-plot" curves "$REC" -o /dev/full 2>"$T/err"; rc=$?
  [ $rc = 2 ] && grep -q "not a regular file" "$T/err" || fail "dml-plot -o /dev/full: exit $rc: $(cat "$T/err")"
  [ -e /dev/full.png ] && fail "/dev/full.png was written"
  "$B/dml-embed" --images "$T" --out /dev/full 2>"$T/err"; rc=$?
  [ $rc = 2 ] && grep -q "not a regular file" "$T/err" || fail "dml-embed --out /dev/full: exit $rc: $(cat "$T/err")"
  [ -c /dev/full ] || fail "/dev/full is no longer a device"
  "$B/dml-embed" --images "$T" --out "$T" 2>"$T/err"; rc=$?
  [ $rc = 2 ] && grep -q "is a folder" "$T/err" || fail "dml-embed --out FOLDER: exit $rc: $(cat "$T/err")"
  # written in place (not renamed): a device is a fine target, and a failed write is an error
  "$B/dml-aggregate" "$REC" --csv /dev/full --out /dev/null 2>"$T/err"; rc=$?
  [ $rc = 1 ] && grep -q "No space left on device" "$T/err" || fail "dml-aggregate --csv /dev/full: exit $rc: $(cat "$T/err")"
  echo ok ;;
long_error)  # a 3000-character name: the cause at the end of the message is never cut off
  long=$(printf 'g%.0s' $(seq 3000))
  "$B/dml-eval" "$T/$long.h5" 2>"$T/err"; rc=$?
  [ $rc != 0 ] && [ $rc -lt 128 ] || fail "exit $rc"
  grep -q "$long" "$T/err" && grep -Eq "(File name too long|no such file)" "$T/err" || fail "message cut: $(head -c 300 "$T/err")"
  echo "ok: $(wc -c <"$T/err") bytes" ;;
long_group)  # a 10,000-character --group: the whole name and the cause reach the user (the 1 KiB buffer cut them)
  long=$(printf 'g%.0s' $(seq 10000))
  "$B/dml-train" --dataset fashion_mnist --max_per_class 10 --n_epochs 1 --embed_dim 8 --bs 20 --kernels 1 \
      --save_path "$T/runs" --group "$long" >/dev/null 2>"$T/err"; rc=$?
  [ $rc != 0 ] && [ $rc -lt 128 ] || fail "exit $rc"
  grep -q "${long}_s1" "$T/err" && grep -q "File name too long" "$T/err" || fail "message cut: $(head -c 300 "$T/err")"
  echo "ok: $(wc -c <"$T/err") bytes" ;;
netrc_mode)  # a netrc that others can read is named with the chmod that fixes it; a private one is used silently
  printf 'machine 127.0.0.1 login user password 0123456789abcdef0123456789abcdef01234567\n' >"$T/.netrc"
  for mode in 644 600; do
    chmod $mode "$T/.netrc"
    env -u WANDB_API_KEY HOME="$T" WANDB_BASE_URL=http://127.0.0.1:9 "$B/dml-fetch" --out "$T/f" e/p 2>"$T/err"; rc=$?
    [ $rc = 1 ] && grep -q "connection refused" "$T/err" || fail "mode $mode: exit $rc: $(cat "$T/err")"
    if [ $mode = 644 ]; then grep -q "readable by others (mode 644): chmod 600" "$T/err" || fail "644: no warning: $(cat "$T/err")"
    else grep -q "readable by others" "$T/err" && fail "600: warned: $(cat "$T/err")"; fi
  done
  echo ok ;;
full_disk)  # dml-train on a tiny tmpfs: the run fails naming ENOSPC, no crash at exit (was: SIGSEGV in H5F__close_cb
            # from H5_term_library), no stray temporary. With 64 KiB and 2 MiB the record is left `failed` with the
            # error (the rows that did not fit are dropped; with 2 MiB the epochs before stay); with 24 KiB not even
            # that fits: one line says so and the record keeps its last committed state, readable.
  MNT="$T/mnt"; mkdir -p "$MNT"
  for size in 24k 64k 2m; do
    mount -t tmpfs -o size=$size tmpfs "$MNT" 2>/dev/null || { echo "cannot mount a tmpfs here (not root?)"; MNT=; exit 77; }
    "$B/dml-train" --dataset fashion_mnist --max_per_class 60 --n_epochs 3 --embed_dim 8 --bs 56 --kernels 1 --evaluation_metrics e_recall@1 \
        --save_path "$MNT" --group full >"$T/out" 2>"$T/err"; rc=$?
    echo "$size: exit $rc: $(tail -1 "$T/err")"
    [ $rc -ge 128 ] && fail "$size: killed by signal $((rc - 128))"
    [ $rc = 0 ] && fail "$size: a run on a full disk reported success"
    [ "$(wc -l <"$T/err" | tr -d ' ')" -le 3 ] || fail "$size: more than the progress lines and one error: $(cat "$T/err")"
    grep -q "No space left on device" "$T/err" || fail "$size: the cause is not named: $(tail -3 "$T/err")"
    find "$MNT" -name "*.tmp" | grep -q . && fail "$size: stray temporaries: $(find "$MNT" -name '*.tmp')"
    rec=$(find "$MNT" -name run.h5 | head -1)
    st=$([ -n "$rec" ] && h5dump -a /status "$rec" 2>/dev/null | grep -o '"[a-z]*"' | tail -1)
    echo "$size: record status $st"
    if [ $size = 24k ]; then
      grep -q "the run record could not be updated either" "$T/err" || fail "24k: the line does not say the record was not updated"
      [ -n "$rec" ] && { "$B/dml-aggregate" "$rec" --out "$T/agg.json" 2>"$T/e2" || fail "24k: record unreadable: $(cat "$T/e2")"; }
    else
      [ "$st" = '"failed"' ] || fail "$size: record status $st, expected failed"
      h5dump -a /error "$rec" 2>/dev/null | grep -q "No space left on device" || fail "$size: the record lacks the error"
      "$B/dml-aggregate" "$rec" --out "$T/agg.json" 2>"$T/e2" || fail "$size: record unreadable: $(cat "$T/e2")"
    fi
    if [ $size = 2m ]; then
      n=$(h5dump -d /train/epoch "$rec" 2>/dev/null | grep -c "(0)")
      [ "$n" -ge 1 ] || fail "2m: the epochs before the failure were lost"
    fi
    umount "$MNT"
  done
  MNT=
  echo ok ;;
*) echo "unknown case $case_"; exit 1 ;;
esac
