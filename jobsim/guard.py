"""The one place a ``jobsim`` command's exceptions become exit codes.

Why: exit codes are the CLI's contract with scripts and CI. 0 every check held; 1 a
check or expectation failed, and nothing else; 2 bad input or an environment problem
(a file, the disk, memory, a server), told in one line on stderr; 3 a bug in jobsim,
with its traceback and a request to report it; 130 interrupted (Ctrl-C), as a shell
reports a process killed by SIGINT. Every command runs inside ``guarded`` (the click
group's ``invoke``), so no command can leak a traceback for bad input, and a bug can
never pass for a failed check.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

T = TypeVar("T")

EXIT_INPUT = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143        # 128 + SIGTERM, as a shell reports it
REPORT_HINT = ("jobsim: internal error (a bug in jobsim, not in your input); please report it "
               "with the command line and the traceback above")


class Terminated(BaseException):
    """SIGTERM (``timeout``, a CI runner, ``kill``): unwinds like Ctrl-C, so staged
    folders, locks and Redis keys are cleaned up on the way out."""


class InputError(Exception):
    """Bad input or environment, already worded as one line for the user."""


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit 2."""
    click.echo(f"jobsim: {_one_line(message)}", err=True)
    sys.exit(EXIT_INPUT)


def guarded(command: Callable[[], T]) -> T:
    """Run ``command``, turning every exception into the exit code its cause deserves."""
    previous = _catch_sigterm()
    try:
        return command()
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise                            # click's own usage errors and exits: exit 2 / as is
    except KeyboardInterrupt:
        click.echo("jobsim: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        click.echo("jobsim: terminated", err=True)
        sys.exit(EXIT_TERMINATED)
    except RecursionError:
        fail("input nested too deeply to process (recursion limit reached)")
    except MemoryError:
        fail("out of memory; try a smaller --scale or a shorter scenario")
    except OSError as exc:
        fail(describe_os_error(exc))
    except Exception as exc:
        if _is_scenario_error(exc):
            _fail_lines(str(exc))
        if _is_input_error(exc):
            fail(str(exc) or type(exc).__name__)
        traceback.print_exc()
        click.echo(REPORT_HINT, err=True)
        sys.exit(EXIT_BUG)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _catch_sigterm() -> Any:
    """Make SIGTERM raise ``Terminated``; returns the handler to restore (None when not
    on the main thread, where Python cannot install one)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def describe_os_error(exc: OSError) -> str:
    """``PATH: REASON`` for a file error, the reason alone otherwise."""
    reason = exc.strerror or (errno.errorcode.get(exc.errno or 0) if exc.errno else None)
    reason = reason or str(exc) or type(exc).__name__
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return ": ".join([" -> ".join(names), reason]) if names else reason


def _is_input_error(exc: Exception) -> bool:
    """Exceptions whose message is written for the user: bad scenarios, histories,
    outputs and brokers. Imported lazily: ``jobsim --help`` stays fast."""
    from jobsim.broker.base import BrokerError
    from jobsim.history.history import HistoryError
    from jobsim.scenario.errors import ScenarioError

    return isinstance(exc, InputError | ScenarioError | HistoryError | BrokerError)


def _is_scenario_error(exc: Exception) -> bool:
    from jobsim.scenario.errors import ScenarioError

    return isinstance(exc, ScenarioError)


def _fail_lines(message: str) -> NoReturn:
    """A scenario's problems: one ``FILE:LINE:COL: PATH: REASON`` line each (no prefix,
    so editors and CI annotations can jump to each), exit 2."""
    for line in message.splitlines():
        click.echo(line, err=True)
    sys.exit(EXIT_INPUT)


def _one_line(message: str) -> str:
    return " ".join(message.split("\n")).strip()
