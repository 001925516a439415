import sys

from legendre_verify.cli import main

sys.exit(main())
