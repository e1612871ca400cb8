#!/usr/bin/env bash
# sweep_slurm — dml-sweep --executor slurm on a real one-node Slurm cluster that this test starts on loopback:
# munged, slurmctld and slurmd from Debian (scripts/install-deps --slurm), in the foreground, in a fresh state
# folder with free ports; their PIDs are kept and they are stopped by PID; every poll has a hard timeout and the
# daemons' logs are printed when something fails. Recipe: ../shared/notes/slurm.md.
#  A. 3 small Fashion-MNIST runs as one job array finish and are aggregated by the dependent (afterany) job;
#  B. the local executor gives the same records as the Slurm executor (recdiff: bitwise);
#  C. a task cancelled mid-run (scancel) is interrupted; the sweep run again with --resume continues it from its
#     last epoch and it ends bitwise equal to an unbroken run;
#  D. a failing run is reported by the report job (failed.txt) and does not block the aggregate; --wait exits 1.
# Skipped (77) only when the Slurm packages are not installed.
# Usage: slurm.sh BIN_DIR RECDIFF
set -uo pipefail
BIN=$1
RECDIFF=$2
for p in munged slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$p" > /dev/null || { echo "sweep_slurm: $p not installed (scripts/install-deps --slurm): skipped"; exit 77; }
done
SWEEP=$BIN/dml-sweep
R=$(mktemp -d "${TMPDIR:-/tmp}/dml_slurm.XXXXXX")
chmod 755 "$R"
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

MP="" CP="" DP=""
logs() {
  for f in "$R"/slurmctld.log "$R"/slurmd.log "$R"/m/munged.log; do
    [ -f "$f" ] && { echo "---- $f (last 40 lines)"; tail -n 40 "$f"; }
  done
  squeue 2>&1 | head -20
}
stop_cluster() {
  for p in $DP $CP; do kill "$p" 2>/dev/null; done
  for _ in $(seq 1 100); do   # up to 10 s
    alive=0
    for p in $DP $CP; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in $DP $CP; do kill -KILL "$p" 2>/dev/null; done
  [ -n "$MP" ] && kill "$MP" 2>/dev/null
  wait 2>/dev/null
}
finish() {
  stop_cluster
  if [ $fails != 0 ]; then logs; fi
  rm -rf "$R"
}
trap finish EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 30000))
}

# ---------------------------------------------------------------- the cluster
mkdir -p "$R/state" "$R/spool" "$R/m"
chmod 711 "$R/m"   # 700: munged refuses the socket folder
dd if=/dev/urandom of="$R/m/munge.key" bs=1024 count=1 status=none
chmod 600 "$R/m/munge.key"
munged -F --socket="$R/m/munge.sock" --key-file="$R/m/munge.key" --pid-file="$R/m/munged.pid" \
       --log-file="$R/m/munged.log" --seed-file="$R/m/munged.seed" > "$R/m/munged.out" 2>&1 &
MP=$!
H=$(hostname -s)
U=$(id -un)
NC=$(nproc)
PC=$(free_port)
PD=$(free_port)
while [ "$PD" = "$PC" ]; do PD=$(free_port); done
cat > "$R/slurm.conf" <<EOF
ClusterName=dmltest
SlurmctldHost=$H(127.0.0.1)
SlurmUser=$U
SlurmdUser=$U
SlurmctldPort=$PC
SlurmdPort=$PD
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$R/m/munge.sock
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/slurmctld.pid
SlurmdPidFile=$R/slurmd.pid
SlurmctldLogFile=$R/slurmctld.log
SlurmdLogFile=$R/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
KillWait=20
ReturnToService=2
MailProg=/bin/true
NodeName=$H NodeAddr=127.0.0.1 CPUs=$NC Sockets=1 CoresPerSocket=$NC ThreadsPerCore=1 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$R/slurm.conf
for _ in $(seq 1 50); do [ -S "$R/m/munge.sock" ] && break; sleep 0.1; done
slurmctld -D -f "$SLURM_CONF" > "$R/slurmctld.out" 2>&1 &
CP=$!
slurmd -D -f "$SLURM_CONF" > "$R/slurmd.out" 2>&1 &
DP=$!
up=0
for _ in $(seq 1 300); do   # up to 30 s
  [ "$(sinfo -h -o %T 2>/dev/null | head -1)" = idle ] && { up=1; break; }
  sleep 0.1
done
if [ $up = 0 ]; then
  bad "one-node cluster up (sinfo: idle) within 30 s"
  cat "$R"/*.out 2>/dev/null
  exit 1
fi
ok "one-node cluster up ($H, $NC cpus, ports $PC/$PD, pids munged $MP slurmctld $CP slurmd $DP)"

# poll_until SECONDS CMD...: run CMD every 0.25 s until it succeeds; 1 on timeout
poll_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.25; done
  return 1
}
queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ] && squeue -h > /dev/null 2>&1; }

export DML_PROGRESS=0
COMMON="--dataset fashion_mnist --max_per_class 100 --lr 1e-3 --embed_dim 8 --bs 56 --evaluation_metrics e_recall@1 nmi dists@intra_over_inter"

# ---------------------------------------------------------------- A. an array of 3 runs + the afterany report
cat > "$R/pa.txt" <<EOF
dml-train $COMMON --n_epochs 2 --group S_Margin --loss margin --seed 0-2
EOF
out=$(timeout 300 "$SWEEP" run "$R/pa.txt" --save_path "$R/a" --executor slurm --cpus-per-task 1 --wait \
      --wait-timeout 240 --no-pdf 2>&1); rc=$?
echo "$out"
check "A: --wait exits 0 when every run finished" [ $rc = 0 ]
check "A: one array of 3 tasks and an afterany report job" grep -Eq "submitted array job [0-9]+ \(3 tasks: 0-2, 1 cpu each\) and report job [0-9]+ \(afterany\)" <<<"$out"
check "A: status 3 finished" grep -q "3 runs: 3 finished" <<<"$("$SWEEP" status "$R/a")"
check "A: the report job aggregated the runs" grep -q "3 of 3 runs finished; aggregate" <<<"$out"
check "A: aggregate.json written by the report job" grep -q '"S_Margin"' "$R/a/aggregate.json"
check "A: the report job wrote the report" [ -f "$R/a/report/report.tex" ]
check "A: each task ran as its own Slurm job" [ "$(ls "$R"/a/.sweep/logs/slurm-*_*.out | wc -l)" = 3 ]

# ---------------------------------------------------------------- B. local == slurm
"$SWEEP" run "$R/pa.txt" --save_path "$R/al" --jobs 2 --cores 2 > "$R/al.log" 2>&1 || { cat "$R/al.log"; bad "B: local study"; }
for s in 0 1 2; do
  if "$RECDIFF" "$R/a/fashion_mnist/S_Margin_s$s/run.h5" "$R/al/fashion_mnist/S_Margin_s$s/run.h5"; then
    ok "B: S_Margin_s$s: local record == slurm record (bitwise)"
  else bad "B: S_Margin_s$s: local record == slurm record"; fi
done

# ---------------------------------------------------------------- C. scancel a task mid-run, resume it
BIG="--dataset fashion_mnist --max_per_class 600 --lr 1e-3 --embed_dim 8 --bs 56 --evaluation_metrics e_recall@1 nmi --n_epochs 6"
cat > "$R/pc.txt" <<EOF
dml-train $BIG --group C_Margin --loss margin --seed 0
EOF
out=$(timeout 60 "$SWEEP" run "$R/pc.txt" --save_path "$R/c" --executor slurm --cpus-per-task 1 --no-pdf 2>&1)
echo "$out"
aid=$(sed -n 's/.*submitted array job \([0-9]*\).*/\1/p' <<<"$out")
running_mid() { "$SWEEP" status "$R/c" 2>/dev/null | grep -Eq "C_Margin_s0 +running +[1-4]/6"; }
if poll_until 120 running_mid; then ok "C: task running with a committed epoch"; else bad "C: task running with a committed epoch"; fi
scancel "${aid}_0"
if poll_until 90 queue_empty; then ok "C: queue empty after scancel (report job ran)"; else bad "C: queue empty after scancel"; fi
st=$("$SWEEP" status "$R/c")
echo "$st"
check "C: the cancelled run is interrupted with 1-5 of 6 epochs" grep -Eq "C_Margin_s0 +interrupted +[1-5]/6" <<<"$st"
out=$(timeout 300 "$SWEEP" run "$R/pc.txt" --save_path "$R/c" --executor slurm --cpus-per-task 1 --resume --wait \
      --wait-timeout 240 --no-pdf 2>&1); rc=$?
echo "$out"
check "C: the resumed sweep exits 0" [ $rc = 0 ]
check "C: the task resumed from its last epoch" grep -q "resuming" "$R/c/.sweep/logs/0_C_Margin_s0.log"
"$SWEEP" run "$R/pc.txt" --save_path "$R/cu" --jobs 1 --cores 1 > "$R/cu.log" 2>&1 || { cat "$R/cu.log"; bad "C: unbroken run"; }
if "$RECDIFF" "$R/c/fashion_mnist/C_Margin_s0/run.h5" "$R/cu/fashion_mnist/C_Margin_s0/run.h5"; then
  ok "C: cancelled + resumed == unbroken (bitwise)"
else bad "C: cancelled + resumed == unbroken"; fi

# ---------------------------------------------------------------- D. a failing run
cat > "$R/pd.txt" <<EOF
dml-train $COMMON --n_epochs 1 --group D_Good --seed 0
dml-train $COMMON --n_epochs 1 --group D_Bad --seed 0 --no_such_flag 1
EOF
out=$(timeout 300 "$SWEEP" run "$R/pd.txt" --save_path "$R/d" --executor slurm --cpus-per-task 1 --wait \
      --wait-timeout 240 --no-pdf 2>&1); rc=$?
echo "$out"
check "D: --wait exits 1 when a run failed" [ $rc = 1 ]
check "D: the report job ran and names the failed run" grep -q "not finished: 1 D_Bad_s0 (failed" <<<"$out"
check "D: failed.txt lists it" grep -q "D_Bad_s0" "$R/d/.sweep/failed.txt"
check "D: the good run was aggregated" grep -q '"D_Good"' "$R/d/aggregate.json"
check "D: queue empty (nothing left pending)" queue_empty

echo "sweep_slurm: $fails failure(s)"
[ $fails = 0 ]
