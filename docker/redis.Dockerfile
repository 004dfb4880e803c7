# Redis as the official image runs it: the command line is the CMD.
FROM chaoslib/base:local
RUN mkdir -p /data && chown redis:redis /data
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
