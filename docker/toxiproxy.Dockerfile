# chaoslib's proxy server as a drop-in for ghcr.io/shopify/toxiproxy: the same
# entrypoint flags (-host, -port, -config), API port 8474.
FROM chaoslib/app:local
EXPOSE 8474
ENTRYPOINT ["python3", "-m", "chaoslib.proxy"]
CMD ["-host", "0.0.0.0", "-port", "8474"]
