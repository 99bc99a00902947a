from lambda_url_harness.cli import main

raise SystemExit(main())
