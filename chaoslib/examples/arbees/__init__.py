"""A small Arbees-style system under test: an orchestrator, game shards and a signal consumer.

It speaks the wire contracts of Arbees (channels, JSON payloads, tables, log
lines, alerts) and implements the fault-tolerance behaviour the chaos guide
expects, each pattern in its own module. FRAGILE switches behaviours off so
tests can prove that the scenarios catch each defect.
"""
