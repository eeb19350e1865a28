"""``python -m agent.transition --train``: see ``agent.transition.train``."""

from agent.transition.train import main

raise SystemExit(main())
