import sys

from bench.claims_lib.main import main

sys.exit(main())
