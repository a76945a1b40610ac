"""What every helper program of the tests does alike: say one JSON object a line
on stdout (flushed, so the test reads it at once), and exit when the test drops
its stdin (its end of the pipe closes when the test process ends, however it
ends), so that no helper outlives the test that started it.

Imported by the scripts beside it (Python puts a script's own directory, symlinks
resolved, first on sys.path)."""
import json
import os
import sys
import threading


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def exit_with_stdin():
    def watch():
        try:
            while sys.stdin.buffer.read(1):
                pass
        except Exception:
            pass
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()
