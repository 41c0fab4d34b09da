"""`python -m tests.clock +400d`: shell exports for a shifted-clock run (used by scripts/test)."""
import shlex
import sys

from tests.clock import environment

for name, value in environment(sys.argv[1]).items():
    print(f"export {name}={shlex.quote(value)}")
