#!/usr/bin/env sh
# Prints the Python (>= 3.11) to build .venv from: a statically linked CPython where one is
# installed (Debian's and Ubuntu's /usr/bin/python3.X), else `python3`. The services run on the
# venv's interpreter, and a shared-libpython build (pyenv's default) runs pure Python ~25 %
# slower on the reference machine (harness/interpreter.py). PYTHON=... make setup overrides it.
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
