"""Files written all or nothing, their digests, folder locks, and full disks. Standard library
only.

Every file is written beside its destination under a temporary name, flushed to disk and renamed
over it (`os.replace` is atomic), so a reader sees the old file or the new one, never a half. A
full disk while writing raises an OSError(ENOSPC) naming the file (`naming`), which train.py
reports in one line (`report_disk_full`). `lock_folder` gives a folder one writer (`fcntl.flock`).

    write_json("runs/x/metrics.json", summary)
    atomic_write("runs/x/model.keras", lambda temporary: model.save(temporary, overwrite=True))
"""

import contextlib
import errno
import glob
import hashlib
import json
import os
import sys
import tempfile

from eqzoo.messages import EXIT_FAILED

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None

TEMPORARY_PREFIX = ".tmp-"
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def fsync_directory(folder):
    with contextlib.suppress(OSError):  # some file systems cannot open a directory
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def disk_full(error):
    """True for an OSError that says the disk (or a quota) is full, however a library wraps it
    (h5py and zipfile keep only the message)."""
    text = str(error)
    return isinstance(error, OSError) and (
        error.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in text
        or "Disk quota exceeded" in text)


@contextlib.contextmanager
def naming(path):
    """A full disk while writing `path` raises an OSError(ENOSPC) whose filename is `path`, so
    the one-line report can say where space ran out (a library's error often names no file)."""
    try:
        yield
    except OSError as error:
        if not disk_full(error) or error.filename == path:
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from error


def disk_full_message(error, folder):
    """The one line for a full disk: which file, and how to go on once space is freed."""
    where = error.filename or (error.__cause__ and getattr(error.__cause__, "filename", None))
    then = (f"resume with: python train.py --resume {folder}" if folder and os.path.exists(
        os.path.join(folder, "config.json")) else "run the same command again")
    return (f"no space left on the device while writing {where or 'the run folder'} "
            f"({os.strerror(errno.ENOSPC).lower()}); every file written before is whole: free "
            f"some space, then {then}")


def report_disk_full(error, folder):
    """In an `except OSError` block: a full disk is one line on stderr and exit code 1 (what
    train.py returns); any other error is raised on."""
    if not disk_full(error):
        raise error
    print(f"train.py: error: {disk_full_message(error, folder)}", file=sys.stderr)
    return EXIT_FAILED


def write_temporary(path, write):
    """`write(temporary_path)` beside `path`, flushed to disk; returns the temporary path. Its name
    ends like `path` (Keras checks `.keras` and `.weights.h5`)."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    with naming(path):
        descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX,
                                                 suffix="-" + os.path.basename(path), dir=folder)
    os.close(descriptor)
    try:
        with naming(path):
            os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp's 0600 would outlive the rename
            write(temporary)
            with open(temporary, "rb+") as f:
                os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    return temporary


def atomic_write(path, write):
    """Replace `path` by what `write(temporary_path)` writes, all or nothing."""
    temporary = write_temporary(path, write)
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    fsync_directory(os.path.dirname(path) or ".")


def write_text(path, text):
    """`text` as the whole of file `path`, atomically."""
    def write(temporary):
        with open(temporary, "w") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path, data):
    """`data` as indented JSON (what JSON cannot hold as its `str`), atomically."""
    def write(temporary):
        with open(temporary, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")

    atomic_write(path, write)


LOCK_NAME = ".lock"


class FolderLocked(Exception):
    """Another live process holds the folder's lock; `pid` is what its lock file says."""

    def __init__(self, folder, pid):
        super().__init__(f"{folder} is locked by process {pid}")
        self.folder, self.pid = folder, pid


def lock_folder(folder):
    """Takes `folder/.lock` with an exclusive `fcntl.flock` and writes this process's id in it;
    returns the open file, whose closing (or the process's end, a crash included) releases it.
    Raises `FolderLocked` when a live process holds it. Without fcntl (Windows): no lock."""
    os.makedirs(folder, exist_ok=True)
    handle = open(os.path.join(folder, LOCK_NAME), "a+")  # held open while the run runs
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held; its holder wrote its pid
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise FolderLocked(folder, pid) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def lock_holder(folder):
    """The pid in `folder/.lock` while a live process holds it, else None (no lock, or a stale
    one: a crashed holder's lock is released by the OS)."""
    path = os.path.join(folder, LOCK_NAME)
    if fcntl is None or not os.path.exists(path):
        return None
    with open(path) as handle:
        try:  # a shared lock conflicts with the holder's exclusive one; closing releases it
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip() or "unknown"
    return None


def remove_temporaries(folder):
    """Temporary files a killed process left behind."""
    for path in glob.glob(os.path.join(glob.escape(folder), TEMPORARY_PREFIX + "*")):
        with contextlib.suppress(OSError):
            os.remove(path)


def file_sha256(path):
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
