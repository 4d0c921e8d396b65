from bench.readpath_lib.main import main

raise SystemExit(main())
