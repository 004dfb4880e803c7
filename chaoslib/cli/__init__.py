"""invoke front end: thin tasks over library calls. ``tasks.py`` imports :data:`namespace`."""

from invoke import Collection

from chaoslib.cli import chaos_tasks, stack_tasks

namespace = Collection()
namespace.add_collection(chaos_tasks.collection)
namespace.add_collection(stack_tasks.collection)
