"""``python -m femopt``: the ``femopt`` command."""

from femopt.launcher import main

if __name__ == "__main__":
    main()
