"""Process look-ups on Linux (/proc) shared by the e2e tests and the benchmarks, which must stop
what they start by its own process id and check that nothing they started is left."""
from __future__ import annotations

from pathlib import Path


def descendants(pid: int) -> set[int]:
    """All live descendants of ``pid`` (from /proc/<pid>/task/*/children)."""
    result: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in result:
                    result.add(child)
                    todo.append(child)
    return result


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
