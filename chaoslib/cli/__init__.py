"""invoke front end: thin tasks over library calls. ``tasks.py`` imports :data:`namespace`;
the installed ``chaos`` program (:mod:`chaoslib.cli.program`) serves the same tasks at its root."""

from invoke import Collection

from chaoslib.cli import (
    chaos_tasks,
    packet_task,
    partition_task,
    redis_slow_task,
    reset_task,
    run_task,
    service_tasks,
    stack_tasks,
    status_task,
)

for _task in (
    partition_task.partition,
    reset_task.reset,
    packet_task.packet,
    *service_tasks.TASKS,
    *redis_slow_task.TASKS,
    *status_task.TASKS,
    *run_task.TASKS,
):
    chaos_tasks.collection.add_task(_task)
namespace = Collection()
namespace.add_collection(chaos_tasks.collection)
namespace.add_collection(stack_tasks.collection)

# One meaning per short flag across every task (chaoslib.cli.conventions): last, so it sees
# every task registered above.
from chaoslib.cli.conventions import apply_conventions  # noqa: E402

apply_conventions(namespace)
