import sys

from .pipeline.cli import main
from .pipeline.devices import keep_freed_host_memory

keep_freed_host_memory()  # this process is the command line's alone
sys.exit(main())
