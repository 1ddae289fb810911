from g4r_tune.cli import main

raise SystemExit(main())
