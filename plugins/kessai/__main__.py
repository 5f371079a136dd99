import sys

from kessai.cli import main

sys.exit(main())
