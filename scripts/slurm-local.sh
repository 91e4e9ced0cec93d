#!/usr/bin/env bash
# A single-node Slurm on this machine, for the cluster tests and for trying `cargo xtask slurm` locally:
# munged with a fresh key, then slurmctld and slurmd as root, this host (`hostname -s`) the controller and
# only node.
#
#   scripts/slurm-local.sh start    # install the packages when absent, start the daemons, wait for the node
#   scripts/slurm-local.sh stop     # stop the daemons this script started (by pid), nothing else
#   scripts/slurm-local.sh status   # exit 0 when the node answers
#   scripts/slurm-local.sh env      # print `export SLURM_CONF=…` for the clients (sbatch, squeue, scancel)
#
# Idempotent: `start` on a running instance and `stop` on a stopped one do nothing. Everything lives
# under $SLURM_LOCAL_DIR (default /tmp/patchlens-slurm): slurm.conf, the munge key and socket, spool
# folders, logs and pid files. Needs root (the daemons and apt-get).
set -euo pipefail

dir=${SLURM_LOCAL_DIR:-/tmp/patchlens-slurm}
conf=$dir/slurm.conf
host=$(hostname -s)
pids="munged slurmctld slurmd"

log() { echo "slurm-local: $*" >&2; }

running() { # pid file name -> 0 when its process is alive
    local f=$dir/run/$1.pid
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

node_up() {
    [ -f "$conf" ] || return 1
    SLURM_CONF=$conf timeout 5 sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

install_packages() {
    local need=()
    for b in slurmctld slurmd sbatch munged; do
        command -v "$b" >/dev/null 2>&1 || need+=("$b")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    log "installing slurmctld slurmd slurm-client munge (missing: ${need[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y slurmctld slurmd slurm-client munge >"$dir/log/apt.log" 2>&1 || {
        apt-get update >>"$dir/log/apt.log" 2>&1
        apt-get install -y slurmctld slurmd slurm-client munge >>"$dir/log/apt.log" 2>&1
    } || { log "apt-get failed (see $dir/log/apt.log)"; exit 1; }
}

write_conf() {
    local cpus mem
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {m = int($2 / 1024) - 1024; if (m < 512) m = 512; print m}' /proc/meminfo)
    cat >"$conf" <<EOF
ClusterName=patchlens
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/run/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MinJobAge=300
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    mkdir -p "$dir"/{log,run,spool/ctld,spool/d,munge}
    if node_up; then
        log "already running ($conf)"
        return 0
    fi
    install_packages
    if ! running munged; then
        head -c 1024 /dev/urandom >"$dir/munge/munge.key"
        chmod 400 "$dir/munge/munge.key"
        munged --force --key-file="$dir/munge/munge.key" --socket="$dir/run/munge.socket" \
            --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
            --seed-file="$dir/munge/munge.seed"
    fi
    write_conf
    running slurmctld || slurmctld -f "$conf"
    running slurmd || slurmd -f "$conf"
    for _ in $(seq 1 60); do
        if node_up; then
            log "node $host up ($conf)"
            return 0
        fi
        # A node that registered DOWN (e.g. after an unclean stop) comes back with this.
        SLURM_CONF=$conf scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
        sleep 1
    done
    log "the node did not come up; logs in $dir/log"
    tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    exit 1
}

stop() {
    local p
    for name in slurmd slurmctld munged; do
        if running "$name"; then
            p=$(cat "$dir/run/$name.pid")
            kill "$p" 2>/dev/null || true
            for _ in $(seq 1 20); do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.25
            done
            kill -9 "$p" 2>/dev/null || true
        fi
        rm -f "$dir/run/$name.pid"
    done
    log "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) node_up ;;
env) echo "export SLURM_CONF=$conf" ;;
*)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
