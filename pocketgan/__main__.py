import os
import sys

from .cli import main

if int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0:
    # under torchrun every rank runs this; rank 0 alone reports (errors still reach stderr)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
sys.exit(main())
