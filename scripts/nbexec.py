"""Execute one notebook cell by cell with nbclient (Debian python3-nbclient) and report.

Called by scripts/run-notebooks.ts with /usr/bin/python3 and JUPYTER_PATH=<repo>/jupyter.
Why a driver of our own instead of `jupyter nbconvert --execute`: tslab sends no error name or
traceback (the text is only in the cell's stderr stream), an error thrown in a timer callback is
only printed as `UncaughtException:` while the cell counts as passed, and nbconvert writes no
notebook when a cell fails. Here we stop at the first failing cell, keep the partial notebook,
and write a JSON report naming the cell, its source and its error text.

usage: nbexec.py INPUT.ipynb OUTPUT.ipynb REPORT.json --timeout SECONDS [--kernel tslab] [--cwd DIR]
"""
import argparse
import inspect
import json
import os
import signal
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

# Lines tslab prints on stderr for errors thrown outside awaited code (main.js handlers).
ASYNC_MARKERS = ("UncaughtException:", "UnhandledPromiseRejection:")
# A last, unsaved cell that gives timers started by the final cell time to fire.
SETTLE_SOURCE = "await new Promise((resolve) => setTimeout(resolve, 300));"


class NotebookTimeout(BaseException):
    """Raised from SIGALRM (our own notebook deadline) or SIGTERM (the runner's backstop), so that
    setup_kernel's cleanup still shuts the kernel down; BaseException so nbclient cannot swallow it."""


def on_signal(signum, frame):
    raise NotebookTimeout(signal.Signals(signum).name)


def stderr_text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr")


def error_text(cell):
    """All error text a cell produced: stderr streams and any (non-tslab) error outputs."""
    parts = [stderr_text(cell)]
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            parts.append("%s: %s\n%s" % (o.get("ename", ""), o.get("evalue", ""), "\n".join(o.get("traceback", []))))
    return "".join(parts).strip()


class StrayWatch:
    """Sees every iopub message, including those nbclient drops because their parent cell has
    already finished: tslab reports a timer's uncaught error on the stderr of the cell that
    started the timer, often after that cell went idle."""

    def __init__(self, kc):
        self.by_msg_id = {}  # execute request id -> cell index
        self.current = -1
        self.hits = []  # (cell index, text)
        get_msg, execute = kc.iopub_channel.get_msg, kc.execute

        def seen(msg):
            c = msg.get("content", {})
            if msg.get("msg_type") == "stream" and c.get("name") == "stderr" and any(m in c.get("text", "") for m in ASYNC_MARKERS):
                index = self.by_msg_id.get(msg.get("parent_header", {}).get("msg_id"), self.current)
                self.hits.append((index, c.get("text", "")))
            return msg

        def wrapped_get_msg(*a, **k):
            r = get_msg(*a, **k)
            if inspect.isawaitable(r):
                async def later():
                    return seen(await r)
                return later()
            return seen(r)

        def wrapped_execute(*a, **k):
            r = execute(*a, **k)
            if inspect.isawaitable(r):
                async def later():
                    msg_id = await r
                    self.by_msg_id[msg_id] = self.current
                    return msg_id
                return later()
            self.by_msg_id[r] = self.current
            return r

        kc.iopub_channel.get_msg = wrapped_get_msg
        kc.execute = wrapped_execute


def write_atomic(path, text):
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("report")
    ap.add_argument("--timeout", type=float, required=True, help="seconds per cell (the runner also bounds the whole notebook)")
    ap.add_argument("--notebook-timeout", type=float, default=0, help="seconds for the whole notebook (0: none)")
    ap.add_argument("--kernel", default="tslab")
    ap.add_argument("--cwd", default=os.getcwd())
    args = ap.parse_args()

    nb = nbformat.read(args.input, as_version=4)
    client = NotebookClient(nb, timeout=int(args.timeout), kernel_name=args.kernel, resources={"metadata": {"path": args.cwd}})
    report = {"ok": True, "cells": 0, "failure": None, "seconds": 0.0}
    started = time.time()

    def fail(index, cell, kind, message):
        report["ok"] = False
        report["failure"] = {
            "index": index,
            "kind": kind,
            "source": cell.source if cell is not None else "",
            "error": message,
        }

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    if args.notebook_timeout > 0:
        signal.setitimer(signal.ITIMER_REAL, args.notebook_timeout)
    current = {"index": -1}
    try:
        with client.setup_kernel():
            watch = StrayWatch(client.kc)

            def stray_failure():
                """The first uncaught async error seen so far, attached to the cell that caused it."""
                if not watch.hits:
                    return False
                index, text = watch.hits[0]
                cell = nb.cells[index] if 0 <= index < len(nb.cells) else None
                if cell is not None and text not in stderr_text(cell):
                    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text=text))
                fail(index, cell, "uncaught", text.strip())
                return True

            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                watch.current = index
                current["index"] = index
                report["cells"] += 1
                cell_started = time.time()
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    fail(index, cell, "timeout", (error_text(cell) + "\n" if error_text(cell) else "") + "cell timed out after %ss" % args.timeout)
                    break
                except DeadKernelError as e:
                    fail(index, cell, "dead-kernel", (error_text(cell) + "\n" if error_text(cell) else "") + "kernel died: %s" % e)
                    break
                except CellExecutionError:
                    fail(index, cell, "error", error_text(cell) or "the cell failed without printing an error")
                    break
                if stray_failure():
                    break
                # one line per cell on stdout: the runner shows them live (long notebooks, CI logs)
                print("cell %d done in %.1f s" % (index, time.time() - cell_started), flush=True)
            if report["ok"]:
                settle = nbformat.v4.new_code_cell(SETTLE_SOURCE)
                nb.cells.append(settle)  # nbclient writes the cell back by index; removed below
                watch.current = len(nb.cells) - 1
                try:
                    client.execute_cell(settle, len(nb.cells) - 1)
                    if watch.hits and watch.hits[0][0] == len(nb.cells) - 1:
                        # started by no cell we know of: blame the last code cell
                        watch.hits[0] = (max(i for i, c in enumerate(nb.cells[:-1]) if c.cell_type == "code"), watch.hits[0][1])
                    stray_failure()
                except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
                    fail(len(nb.cells) - 1, None, "settle", "the kernel failed after the last cell: %s %s" % (type(e).__name__, error_text(settle)))
                finally:
                    nb.cells.pop()
    except NotebookTimeout as e:
        i = current["index"]
        cell = nb.cells[i] if 0 <= i < len(nb.cells) else None
        why = "the notebook ran past its %ss limit" % args.notebook_timeout if str(e) == "SIGALRM" else "stopped by %s" % e
        fail(i, cell, "timeout", ((error_text(cell) + "\n") if cell is not None and error_text(cell) else "") + why)
        if client.km is not None:  # interrupted while the kernel was starting: setup_kernel did not clean up
            try:
                client._cleanup_kernel()
            except Exception:
                pass
    except Exception as e:  # kernel could not start, or similar: report it rather than a Python traceback
        if report["ok"]:
            fail(-1, None, "kernel", "%s: %s" % (type(e).__name__, e))

    signal.setitimer(signal.ITIMER_REAL, 0)
    report["seconds"] = round(time.time() - started, 2)
    write_atomic(args.output, nbformat.writes(nb))
    write_atomic(args.report, json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
