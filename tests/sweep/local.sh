#!/usr/bin/env bash
# sweep_local — dml-sweep on this machine:
#  1. a 2-method × 2-seed study runs 2 at a time and every record is finished; `status` says so; a second run of
#     the same sweep starts nothing and leaves the records untouched;
#  2. the whole study killed (SIGKILL to the sweep and its dml-train processes) in the middle: status shows the
#     killed run as interrupted, a rerun without --resume leaves it, a rerun with --resume finishes it, and every
#     record equals (recdiff: losses, metrics, embeddings bitwise) the records of an unbroken study;
#  3. a failing run (a bad flag) is reported as failed with its exit status, does not stop the others, and is
#     started again only with --retry-failed;
#  4. a hostile group name is one literal argv word: no shell runs it.
# Usage: local.sh BIN_DIR RECDIFF
set -euo pipefail
BIN=$1
RECDIFF=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/dml_sweep_local.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
export DML_PROGRESS=0
SWEEP=$BIN/dml-sweep
COMMON="--dataset fashion_mnist --max_per_class 100 --lr 1e-3 --embed_dim 8 --bs 56 --evaluation_metrics e_recall@1 nmi"

# ---------------------------------------------------------------- 1. a study, and the same study again
cat > "$T/p1.txt" <<EOF
# two methods, two seeds each
dml-train $COMMON --n_epochs 2 --group A_Margin --loss margin --seed 0,1
dml-train $COMMON --n_epochs 2 --group 'B_Triplet' \\
    --loss triplet --batch_mining semihard   # seeds from --seeds
EOF
out=$("$SWEEP" run "$T/p1.txt" --save_path "$T/s1" --jobs 2 --cores 2 --seeds 0-1 2>&1) || { echo "$out"; bad "study runs"; }
check "study: 4 runs started with --kernels 1" grep -q "4 to run, 0 finished already, 0 skipped; 2 at a time with --kernels 1" <<<"$out"
st=$("$SWEEP" status "$T/s1")
echo "$st"
check "status: 4 finished" grep -q "4 runs: 4 finished, 0 running, 0 interrupted, 0 failed, 0 missing" <<<"$st"
check "status: epochs and R@1 per run" grep -Eq "B_Triplet_s1 +finished +2/2 +0\.[0-9]{4}" <<<"$st"
for r in A_Margin_s0 A_Margin_s1 B_Triplet_s0 B_Triplet_s1; do
  [ -f "$T/s1/fashion_mnist/$r/run.h5" ] || bad "record $r at its announced path"
done
sum1=$(cat "$T"/s1/fashion_mnist/*/run.h5 | md5sum)
out=$("$SWEEP" run "$T/p1.txt" --save_path "$T/s1" --jobs 2 --cores 2 --seeds 0-1 2>&1)
check "second run of the sweep starts nothing" grep -q "0 to run, 4 finished already" <<<"$out"
check "records untouched by the second run" [ "$sum1" = "$(cat "$T"/s1/fashion_mnist/*/run.h5 | md5sum)" ]
check "no duplicate run folders" [ "$(ls "$T/s1/fashion_mnist" | wc -l)" = 4 ]
sed 's/--n_epochs 2 --group A_Margin/--n_epochs 3 --group A_Margin/' "$T/p1.txt" > "$T/p1b.txt"
set +e
out=$("$SWEEP" run "$T/p1b.txt" --save_path "$T/s1" --jobs 2 --cores 2 --seeds 0-1 2>&1); rc=$?
set -e
check "a changed line over an existing record is refused (exit 1)" [ $rc = 1 ]
check "... naming the run" grep -q "run A_Margin_s0: its preset line (line 2) changed" <<<"$out"
if "$RECDIFF" "$T/s1/fashion_mnist/A_Margin_s0/run.h5" "$T/s1/fashion_mnist/A_Margin_s1/run.h5"; then bad "recdiff tells two seeds apart"
else ok "recdiff tells two seeds apart"; fi

mv "$T/s1" "$T/s1m"
check "a moved study: status reads its records at the new place" grep -q "4 runs: 4 finished" <<<"$("$SWEEP" status "$T/s1m")"
out=$("$SWEEP" run "$T/p1.txt" --save_path "$T/s1m" --jobs 2 --cores 2 --seeds 0-1 2>&1)
check "a moved study: the sweep run there starts nothing" grep -q "0 to run, 4 finished already" <<<"$out"

# ---------------------------------------------------------------- 2. kill the whole study, resume it
BIG="--dataset fashion_mnist --max_per_class 600 --lr 1e-3 --embed_dim 8 --bs 56 --evaluation_metrics e_recall@1 nmi --n_epochs 5"
cat > "$T/p2.txt" <<EOF
dml-train $BIG --group K_Margin --loss margin --seed 0
dml-train $BIG --group K_Triplet --loss triplet --batch_mining semihard --seed 0
EOF
setsid "$SWEEP" run "$T/p2.txt" --save_path "$T/k" --jobs 2 --cores 2 > "$T/k.log" 2>&1 &
spid=$!
seen=0
for _ in $(seq 1 600); do   # up to 60 s for a first committed epoch
  sleep 0.1
  if "$SWEEP" status "$T/k" 2>/dev/null | grep -Eq "K_Margin_s0 +running +[1-4]/5"; then seen=1; break; fi
done
kill -KILL -- "-$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
check "a first epoch was committed before the kill" [ $seen = 1 ]
sleep 0.5
st=$("$SWEEP" status "$T/k")
echo "$st"
check "status after the kill: interrupted (killed)" grep -Eq "K_Margin_s0 +interrupted +[1-4]/5 .*killed" <<<"$st"
set +e
out=$("$SWEEP" run "$T/p2.txt" --save_path "$T/k" --jobs 2 --cores 2 2>&1); rc=$?
set -e
check "without --resume the killed runs are left (exit 1)" [ $rc = 1 ]
check "without --resume: 'give --resume'" grep -q "interrupted (give --resume)" <<<"$out"
"$SWEEP" run "$T/p2.txt" --save_path "$T/k" --jobs 2 --cores 2 --resume > "$T/k2.log" 2>&1 || { cat "$T/k2.log"; bad "resume run"; }
check "status after --resume: both finished" grep -q "2 runs: 2 finished" <<<"$("$SWEEP" status "$T/k")"
grep -q "resuming" "$T"/k/.sweep/logs/0_K_Margin_s0.log && ok "run 0 was resumed, not restarted" || bad "run 0 was resumed"
"$SWEEP" run "$T/p2.txt" --save_path "$T/u" --jobs 2 --cores 2 > "$T/u.log" 2>&1 || { cat "$T/u.log"; bad "unbroken study"; }
for r in K_Margin_s0 K_Triplet_s0; do
  if "$RECDIFF" "$T/k/fashion_mnist/$r/run.h5" "$T/u/fashion_mnist/$r/run.h5"; then ok "$r: killed + resumed == unbroken (bitwise)"
  else bad "$r: killed + resumed == unbroken"; fi
done

# SIGTERM to the sweep reaches every dml-train: each stops after its step, the records say interrupted
"$SWEEP" run "$T/p2.txt" --save_path "$T/t" --jobs 2 --cores 2 > "$T/t.log" 2>&1 &
spid=$!
seen=0
for _ in $(seq 1 600); do
  sleep 0.1
  if "$SWEEP" status "$T/t" 2>/dev/null | grep -Eq "K_Margin_s0 +running +[1-4]/5"; then seen=1; break; fi
done
kill -TERM "$spid"
set +e
wait "$spid"; rc=$?
set -e
check "SIGTERM: the sweep exits 130" [ $rc = 130 ]
st=$("$SWEEP" status "$T/t")
check "SIGTERM: the runs are interrupted (not killed)" [ "$(grep -cE "interrupted +[0-4]/5 +([0-9.]+|-) *$" <<<"$st")" = 2 ]

# ---------------------------------------------------------------- 3. a failing run
cat > "$T/p3.txt" <<EOF
dml-train $COMMON --n_epochs 1 --group F_Good --seed 0
dml-train $COMMON --n_epochs 1 --group F_Bad --seed 0 --no_such_flag 1
EOF
set +e
out=$("$SWEEP" run "$T/p3.txt" --save_path "$T/f" --jobs 2 --cores 2 2>&1); rc=$?
set -e
echo "$out"
check "a failing run makes the sweep exit 1" [ $rc = 1 ]
st=$("$SWEEP" status "$T/f")
echo "$st"
check "the good run finished" grep -Eq "F_Good_s0 +finished" <<<"$st"
check "the bad run: failed, exit 2, no record" grep -Eq "F_Bad_s0 +failed .*exit 2 before a record" <<<"$st"
check "its log names the bad flag" grep -q "no_such_flag" "$T"/f/.sweep/logs/1_F_Bad_s0.log
out=$("$SWEEP" run "$T/p3.txt" --save_path "$T/f" --jobs 2 --cores 2 2>&1 || true)
check "without --retry-failed it is not started again" grep -q "failed (give --retry-failed)" <<<"$out"
out=$("$SWEEP" run "$T/p3.txt" --save_path "$T/f" --jobs 2 --cores 2 --retry-failed 2>&1 || true)
check "--retry-failed starts it again" grep -q "1 to run, 1 finished already" <<<"$out"
check "two attempts in its log" [ "$(grep -c '^== dml-sweep .*starting run 1' "$T"/f/.sweep/logs/1_F_Bad_s0.log)" = 2 ]

# ---------------------------------------------------------------- 4. hostile names
cd "$T"
cat > "$T/p4.txt" <<EOF
dml-train $COMMON --n_epochs 1 --seed 0 --group 'x; touch PWNED; \$(touch PWNED2) \`touch PWNED3\`'
EOF
"$SWEEP" run "$T/p4.txt" --save_path "$T/h" > "$T/h.log" 2>&1 || { cat "$T/h.log"; bad "hostile group runs"; }
check "no command of the group name ran" [ ! -e PWNED ] && [ ! -e PWNED2 ] && [ ! -e PWNED3 ]
check "the run folder is the literal name" [ -f "$T/h/fashion_mnist/x; touch PWNED; \$(touch PWNED2) \`touch PWNED3\`_s0/run.h5" ]
set +e
"$SWEEP" run "$T/p1.txt" --save_path "$T/x" --executor nope > "$T/e.log" 2>&1; rc=$?
set -e
check "bad --executor: one line, exit 2" [ $rc = 2 ] && grep -q "executor must be local or slurm" "$T/e.log"
set +e
"$SWEEP" status "$T/nothing" > "$T/e.log" 2>&1; rc=$?
set -e
check "status of a folder without a study: one line, exit 1" [ $rc = 1 ] && grep -q "not a sweep folder" "$T/e.log"

# the demo's preset: 15 runs, each line's flags parse in dml-train (the list output is shell-quoted)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
lines=$("$SWEEP" list "$SRC/runs/presets/fmnist_study.sweep" --save_path "$T/demo")
check "demo preset: 15 runs (5 methods x 3 seeds)" [ "$(wc -l <<<"$lines")" = 15 ]
nparse=0
while IFS=$'\t' read -r _ _ cmd; do
  if eval "$cmd --help" > /dev/null 2>&1; then nparse=$((nparse + 1)); else echo "does not parse: $cmd"; fi
done <<<"$lines"
check "demo preset: every line parses in dml-train" [ $nparse = 15 ]

echo "sweep_local: $fails failure(s)"
[ $fails = 0 ]
