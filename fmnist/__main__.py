"""Entry point for python -m fmnist."""
import sys

from .cli import main

sys.exit(main())
