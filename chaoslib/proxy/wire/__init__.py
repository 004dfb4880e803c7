"""Wire protocols as sans-I/O parsers (bytes in, frames out), for protocol-aware toxics."""
