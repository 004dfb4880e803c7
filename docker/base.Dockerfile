# Debian bookworm (debootstrapped, imported as local/debian:bookworm) with the servers,
# the network tools the packet-level faults use, and the Python packages from local wheels.
FROM local/debian:bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-pip redis-server postgresql-15 iproute2 iptables procps netcat-openbsd \
 && rm -rf /var/lib/apt/lists/*
COPY wheels /wheels
COPY requirements.txt /requirements.txt
RUN pip3 install -q --break-system-packages --no-index --find-links /wheels -r /requirements.txt
