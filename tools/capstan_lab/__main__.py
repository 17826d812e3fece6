import sys

from capstan_lab.cli import main

sys.exit(main())
