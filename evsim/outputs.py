"""The one way evsim writes a file the user named.

- The file gets exactly the name the user gave: writers receive an open binary file, never a
  path, so no library can append its own suffix (``np.save("x")`` writes ``x.npy``).
- The destination is checked before any work starts (:func:`check_destination`): not a
  folder, a parent that is a folder and writable, a suffix that fits the format.
- Writing is atomic: a temporary file beside the destination, flushed to disk, then renamed
  over it. A crash, an error or Ctrl-C leaves what was there before, byte for byte.
- A new file gets the mode the umask gives (``0o666 & ~umask``); an existing file keeps its
  mode; a symlinked destination is written through (its target is replaced, the link stays).
- :class:`OutputSet` commits several outputs of one command together, at the end, with
  Ctrl-C held off during the renames: a command leaves all of its outputs or none.
"""
from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from .errors import EvsimError

# What each output format accepts as a file name suffix (None: any name).
FORMATS = {
    "npy": (".npy",),
    "npz": (".npz",),
    "weights": (".npz", ".safetensors"),
    "text": None,
    "pth": None,
    "image": (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp"),
}
# Suffixes that name another data format: writing an .npz archive to 'x.npy' is a mistake.
DATA_SUFFIXES = (".npy", ".npz", ".safetensors", ".pth", ".yaml", ".yml", ".json", ".csv")


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fail(message, path, fix=None, option=None):
    raise EvsimError(f"{option + ': ' if option else ''}{message}", file=str(path), fix=fix)


def resolve(path) -> Path:
    """The path that will really be written: a symlink's final target (so the link survives)."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def check_destination(path, fmt: str = "text", option: str | None = None) -> Path:
    """Fail now, before any work, if ``path`` cannot receive a ``fmt`` output. Returns the
    resolved destination. ``option`` (e.g. ``--save-output``) names the flag in messages."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        _fail("an output path must be a non-empty file name", path if isinstance(path, (str, os.PathLike)) else repr(path),
              option=option)
    raw = Path(path)
    suffixes = FORMATS[fmt]
    suffix = raw.suffix.lower()
    if suffixes is not None and fmt == "image" and suffix not in suffixes:
        _fail(f"cannot tell the image format from the name '{raw.name}'", path,
              fix=f"end the name with one of {', '.join(suffixes)}", option=option)
    if suffixes is not None and suffix not in suffixes:
        if fmt in ("npy", "npz") and suffix not in DATA_SUFFIXES:
            pass  # any other name is kept exactly as given
        else:
            _fail(f"this output is {' or '.join(suffixes)}, but the name ends in '{raw.suffix or '(nothing)'}'", path,
                  fix=f"name it …{suffixes[0]}", option=option)
    target = resolve(raw)
    if target.exists() and target.is_dir():
        _fail("is a folder, not a file", path, fix="give a file name inside it", option=option)
    if target.exists() and not target.is_file():
        _fail("exists and is not a regular file", path, fix="choose another name", option=option)
    parent = target.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _fail(f"'{existing}' is a file, so nothing can be written under it", path, fix="choose another folder", option=option)
    if not os.access(existing, os.W_OK | os.X_OK):
        _fail(f"the folder '{existing}' is not writable", path, fix="choose a folder you can write to", option=option)
    if target.exists() and not os.access(target, os.W_OK):
        _fail("exists and is read-only", path, fix="choose another name or make it writable", option=option)
    return target


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def stage(path, write, fmt: str = "text", option: str | None = None, by_path: bool = False) -> tuple[Path, Path]:
    """Write ``write(file)`` (an open binary file) into a temporary file beside the
    destination; returns (temporary, destination). Nothing at the destination changes yet.
    ``by_path``: ``write`` gets the temporary file's path instead; a writer that wrote
    elsewhere (a library appending its own suffix) is an error, never silent data loss."""
    target = check_destination(path, fmt, option)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:
        _fail(f"cannot write here ({err.strerror})", path, option=option)
    os.close(fd)
    tmp = Path(tmp)
    try:
        if by_path:
            write(str(tmp))
            strays = [p for p in tmp.parent.glob(f"{glob_escape(tmp.name)}?*")]
            for stray in strays:
                stray.unlink(missing_ok=True)
            if strays:
                raise RuntimeError(f"the writer of {path} wrote {strays[0].name} instead of the file it was given")
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        else:
            with open(tmp, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(target))
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            _fail(f"cannot write ({err.strerror or err})", path, option=option)
        raise
    return tmp, target


@contextmanager
def _interrupts_held():
    """Hold SIGINT while renaming (main thread only): Ctrl-C lands after, never between."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _commit(staged) -> None:
    with _interrupts_held():
        for tmp, target in staged:
            os.replace(tmp, target)


def glob_escape(name: str) -> str:
    import glob
    return glob.escape(name)


def write_output(path, write, fmt: str = "text", option: str | None = None, by_path: bool = False) -> Path:
    """Write one output atomically under exactly ``path``; ``write(file)`` gets an open binary
    file (``np.save(f, a)``, ``fig.savefig(f, format=…)``, ``f.write(bytes)``)."""
    staged = stage(path, write, fmt, option, by_path)
    _commit([staged])
    return staged[1]


def write_text(path, text: str, option: str | None = None) -> Path:
    return write_output(path, lambda f: f.write(text.encode("utf-8")), "text", option)


class OutputSet:
    """Several outputs of one command, committed together: ``add`` checks a destination now
    (before the work), ``stage`` writes its temporary file, ``commit`` renames them all."""

    def __init__(self):
        self.planned: dict[str, tuple[str, str | None]] = {}
        self.staged: list[tuple[Path, Path]] = []

    def add(self, path, fmt: str = "text", option: str | None = None):
        if path is not None:
            target = check_destination(path, fmt, option)
            for other in self.planned:
                if resolve(other) == target:
                    _fail(f"is named for two outputs ({self.planned[other][1]} and {option})", path, option=option,
                          fix="give each output its own file")
            self.planned[str(path)] = (fmt, option)
        return path

    def stage(self, path, write) -> None:
        fmt, option = self.planned[str(path)]
        try:
            self.staged.append(stage(path, write, fmt, option))
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        _commit(self.staged)
        self.staged = []

    def discard(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)
        self.staged = []

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.discard()  # committed outputs were already renamed; anything left is abandoned
        return False


# -- folders (evsim import writes a spec and its weights as one unit) --------------------------

def check_folder(path, names, option: str | None = None) -> Path:
    """Fail now if ``path`` cannot become a folder holding exactly ``names``: it may be new,
    empty, or hold only those files (a previous output of the same command)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        _fail("an output folder must be a non-empty path", repr(path), option=option)
    target = resolve(path)
    if target.exists():
        if not target.is_dir():
            _fail("exists and is not a folder", path, fix="give a new folder name", option=option)
        others = sorted(set(os.listdir(target)) - set(names))
        if others:
            _fail(f"holds other files ({', '.join(others[:4])}{' …' if len(others) > 4 else ''}); the folder is replaced "
                  f"as a whole", path, fix="give a new or empty folder", option=option)
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _fail(f"'{existing}' is a file, so nothing can be written under it", path, fix="choose another folder", option=option)
    if not os.access(existing, os.W_OK | os.X_OK):
        _fail(f"the folder '{existing}' is not writable", path, fix="choose a folder you can write to", option=option)
    return target


def _exchange(new: Path, old: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(old), rename_exchange) == 0


@contextmanager
def staged_folder(path, names, option: str | None = None):
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename
    (an existing folder is swapped out atomically, then removed); on any error or Ctrl-C it
    is removed and ``path`` is untouched."""
    import shutil
    target = check_folder(path, names, option)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    except OSError as err:
        _fail(f"cannot write here ({err.strerror})", path, option=option)
    try:
        yield tmp
        for name in os.listdir(tmp):
            os.chmod(tmp / name, 0o666 & ~current_umask())
        os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o777 & ~current_umask())
        with _interrupts_held():
            if not target.exists():
                os.rename(tmp, target)
            elif _exchange(tmp, target):
                pass  # tmp now holds the old folder, removed below
            else:
                backup = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
                os.rename(target, backup / "old")
                os.rename(tmp, target)
                os.rename(backup, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
