import sys

from geomclaims.cli import main

sys.exit(main())
