from focusmim.cli import main

raise SystemExit(main())
