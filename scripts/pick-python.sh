#!/usr/bin/env sh
# Prints the Python (>= 3.11) to build .venv from, which every service of a local run runs on: a
# statically linked CPython where one is installed (Debian's and Ubuntu's /usr/bin/python3.X, the
# build the Docker images run), else `python3`. Then a local run and a Docker run execute the same
# interpreter build, and the interpreter is not one more difference between the backends.
# harness/interpreter.py says what the build changes; PYTHON=... make setup overrides the choice.
for candidate in /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11; do
  [ -x "$candidate" ] || continue
  "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || continue
  # static: the running interpreter has no libpython mapped
  if "$candidate" -c 'import sys; sys.exit("libpython" in open("/proc/self/maps").read())'; then
    echo "$candidate"
    exit 0
  fi
done
echo python3
