import sys

from embedded_localstack.control.cli import main

sys.exit(main())
