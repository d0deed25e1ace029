#!/usr/bin/env bash
# A one-node Slurm cluster on this (Debian) machine, to try profiles/slurm without a real cluster.
# Needs root. Installs slurm-wlm and munge when missing, writes /etc/slurm/slurm.conf from
# `slurmd -C`, and starts munged, slurmctld and slurmd (idempotent: a second call only checks).
# No accounting daemon: the profile reads job status with squeue, and runs need
# `--slurm-no-account` (see tests/workflow/test_slurm.py).
set -euo pipefail

if ! command -v slurmctld >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

host=$(hostname -s)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
node=$(slurmd -C | head -1 | sed -e 's/ Boards=[0-9]*//' -e 's/SocketsPerBoard=/Sockets=/')
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=clipcurate
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.txt
AccountingStorageType=accounting_storage/none
MinJobAge=300
MailProg=/bin/true
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
${node/NodeName=$host/NodeName=$host NodeAddr=127.0.0.1}
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF

chown munge:munge /run/munge
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 20); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        sinfo
        exit 0
    fi
    sleep 1
done
echo "slurm did not come up; see /var/log/slurm/" >&2
exit 1
