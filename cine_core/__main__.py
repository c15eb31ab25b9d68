import sys

from .host_memory import keep_freed_host_memory, restart_with_allocator_tunables

# This process is the command line's alone: its allocator is set up for rendering (see
# cine_core.host_memory), first the tunables glibc reads at start, before PyTorch is loaded.
restart_with_allocator_tunables()
keep_freed_host_memory()

from .pipeline.cli import main  # noqa: E402 (after the allocator's set-up, which may restart)

sys.exit(main())
