"""invoke front end: thin tasks over library calls. ``tasks.py`` imports :data:`namespace`."""

from invoke import Collection

from chaoslib.cli import chaos_tasks, packet_task, partition_task, reset_task, stack_tasks

chaos_tasks.collection.add_task(partition_task.partition)
chaos_tasks.collection.add_task(reset_task.reset)
chaos_tasks.collection.add_task(packet_task.packet)
namespace = Collection()
namespace.add_collection(chaos_tasks.collection)
namespace.add_collection(stack_tasks.collection)
