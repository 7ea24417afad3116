#!/usr/bin/env bash
# Starts and stops a real, single-node Slurm cluster on this machine, for
# tests: munged, slurmctld and slurmd, all as root, all state under one
# directory, on loopback ports nobody else uses. Nothing outside DIR is
# touched, except that the Debian packages slurm-wlm and munge are installed
# when missing.
#
#   slurm-harness.sh start DIR   install if needed, start, wait until the node
#                                is idle and a job step runs; then
#                                `source DIR/slurm.env` sets SLURM_CONF
#   slurm-harness.sh stop DIR    stop what start started (by the pids it
#                                recorded in DIR/pids); safe to repeat
#
# start exits 0 when the cluster is up, 77 when Slurm cannot run here (not
# root, packages not installable, a daemon refuses to start or no job step
# runs), with the reason and the daemons' log tails on stderr, and 1 on a
# usage error. Every wait is bounded.
set -uo pipefail

usage() {
  echo "usage: slurm-harness.sh start|stop DIR" >&2
  exit 1
}
[ $# -eq 2 ] || usage
action=$1
dir=$2

log() { echo "slurm-harness: $*" >&2; }

# Prints the tails of the daemons' logs.
show_logs() {
  local f
  for f in "$dir"/munge/munged.log "$dir"/munged.out "$dir"/slurmctld.log "$dir"/slurmctld.out \
           "$dir"/slurmd.log "$dir"/slurmd.out; do
    [ -s "$f" ] || continue
    echo "----- $f (last 25 lines)" >&2
    tail -n 25 "$f" >&2
  done
}

# Gives up: Slurm cannot run on this machine; stops what was started.
cannot_run() {
  log "SKIP: Slurm cannot run on this machine: $*"
  show_logs
  stop
  exit 77
}

stop() {
  [ -f "$dir/pids" ] || return 0
  local name pid
  # Jobs still running on our cluster (a test that failed half-way) are
  # cancelled first, so that no job step outlives the daemons.
  if [ -f "$dir/slurm.conf" ] && grep -q "^slurmctld " "$dir/pids" &&
     SLURM_CONF=$dir/slurm.conf timeout 10 scontrol ping >/dev/null 2>&1; then
    SLURM_CONF=$dir/slurm.conf timeout 10 scancel --user="$(id -un)" 2>/dev/null
    for _ in $(seq 1 50); do
      [ -z "$(SLURM_CONF=$dir/slurm.conf timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  # Reverse order of start: slurmd, slurmctld, munged.
  tac "$dir/pids" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop on SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null
      fi
    fi
  done
  rm -f "$dir/pids"
}

# Records a daemon we started, so that stop ends exactly it.
started() { echo "$1 $2" >>"$dir/pids"; }

install_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
     ! command -v srun >/dev/null || ! command -v sinfo >/dev/null; then
    missing+=(slurm-wlm)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || cannot_run "${missing[*]} missing and no apt-get to install them"
  log "installing ${missing[*]} (Debian packages; at most 5 minutes)"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 300 apt-get install -y -qq --no-install-recommends "${missing[@]}" \
       >"$dir/apt.log" 2>&1; then
    timeout 120 apt-get update -qq >>"$dir/apt.log" 2>&1
    timeout 300 apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >>"$dir/apt.log" 2>&1 ||
      cannot_run "apt-get install ${missing[*]} failed: $(tail -n 3 "$dir/apt.log" | tr '\n' ' ')"
  fi
}

# Two free TCP ports on loopback.
free_ports() {
  python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

start() {
  [ "$(id -u)" -eq 0 ] || cannot_run "starting slurmctld and slurmd needs root (uid is $(id -u))"
  mkdir -p "$dir" || usage
  dir=$(cd "$dir" && pwd)
  stop
  install_packages
  command -v python3 >/dev/null || cannot_run "python3 is missing"

  # munge: its own key, socket and logs under DIR.
  mkdir -p "$dir/munge" && chmod 711 "$dir/munge"
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$dir/munge/munge.key" --bits=1024 ||
      cannot_run "mungekey failed"
  else
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 2>/dev/null
  fi
  chmod 400 "$dir/munge/munge.key"
  munged --foreground --force --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    >"$dir/munged.out" 2>&1 &
  started munged $!
  for _ in $(seq 1 100); do
    [ -S "$dir/munge/munge.socket" ] && break
    kill -0 "$!" 2>/dev/null || cannot_run "munged exited"
    sleep 0.1
  done
  [ -S "$dir/munge/munge.socket" ] || cannot_run "munged made no socket in 10 s"

  # slurm.conf: one node, localhost, two CPUs; no cgroups, no accounting
  # database (completed jobs go to a text file: jobcomp/filetxt).
  local ports ctld_port slurmd_port
  ports=$(free_ports) || cannot_run "cannot find free ports"
  read -r ctld_port slurmd_port <<<"$ports"
  mkdir -p "$dir/state" "$dir/spool"
  cat >"$dir/slurm.conf" <<EOF
ClusterName=sifstoretest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=600
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$dir/slurm.conf" >"$dir/slurm.env"
  export SLURM_CONF=$dir/slurm.conf

  (cd "$dir" && exec slurmctld -D -f "$dir/slurm.conf") >"$dir/slurmctld.out" 2>&1 &
  local ctld=$!
  started slurmctld $ctld
  for _ in $(seq 1 100); do
    scontrol ping >/dev/null 2>&1 && break
    kill -0 $ctld 2>/dev/null || cannot_run "slurmctld exited"
    sleep 0.2
  done
  scontrol ping >/dev/null 2>&1 || cannot_run "slurmctld does not answer after 20 s"

  (cd "$dir" && exec slurmd -D -N localhost -f "$dir/slurm.conf") >"$dir/slurmd.out" 2>&1 &
  local slurmd=$!
  started slurmd $slurmd
  local state=""
  for _ in $(seq 1 150); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null)
    [ "$state" = idle ] && break
    kill -0 $slurmd 2>/dev/null || cannot_run "slurmd exited"
    sleep 0.2
  done
  [ "$state" = idle ] || cannot_run "the node is '$state', not idle, after 30 s"

  # A job step must really run (slurmstepd may be refused where slurmd was not).
  local out
  # shellcheck disable=SC2016  # expanded in the job
  out=$(timeout 60 srun -n1 -t 1 sh -c 'echo "job $SLURM_JOB_ID on $SLURMD_NODENAME"' 2>&1)
  case $out in
    "job "[0-9]*" on localhost") log "Slurm is up ($(sinfo -V)): $out" ;;
    *) cannot_run "srun of a trivial job failed: $out" ;;
  esac
}

case $action in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
