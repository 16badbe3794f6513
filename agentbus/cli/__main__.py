"""``python -m agentbus.cli``: the same as the ``agentbus`` console script."""

from agentbus.cli import main

if __name__ == "__main__":
    main()
