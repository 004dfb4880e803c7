# chaoslib and the reference system (chaoslib/examples/arbees), run as `python3 -m chaoslib.examples.arbees.<service>`.
FROM chaoslib/base:local
WORKDIR /opt/chaoslib
ENV PYTHONPATH=/opt/chaoslib PYTHONUNBUFFERED=1
COPY proxies /opt/chaoslib/proxies
COPY examples /opt/chaoslib/examples
COPY chaoslib /opt/chaoslib/chaoslib
