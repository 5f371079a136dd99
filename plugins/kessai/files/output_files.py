"""Files the project writes to disk: names that cannot leave their folder, modes that keep them
from other users, and whole-or-nothing writes.

- A name from data (a card company's file code, a merchant id) becomes a path only through
  `safe_child`, which refuses `..`, `/`, `\\`, NUL and other control characters, and names longer
  than a filesystem allows (255 bytes).
- Files are created with KESSAI_FILE_MODE (default 0640), their folders with KESSAI_DIR_MODE
  (default 0750); the bank transfer files (accounts, holders' names) always 0600.
- A file is written under a temporary name `.<name>.<random>.part` in its folder and renamed into
  place when complete: no reader sees half of it. A failed write removes its `.part`; a run killed
  mid-write leaves one, which the next run sweeps (`sweep_parts`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from kessai.errors import Refusal
from kessai.settings import (  # noqa: F401 (kessai.files.output_files' names too)
    DEFAULT_DIR_MODE,
    DEFAULT_FILE_MODE,
    DIR_MODE_VARIABLE,
    FILE_MODE_VARIABLE,
    ModeSettingError,
    environment_setting,
)

PRIVATE_FILE_MODE = 0o600  # the transfer files: bank accounts and holders' names
NAME_MAX = 255  # bytes of one name (ext4, xfs, APFS)
PART_SUFFIX = ".part"
# Temporary files of earlier writers: ours (.part) and those of the writers before (.partial).
PART_PATTERNS = (".*.part", ".*.partial")
# A .part is swept only when last written this long before the sweeping run started: a writer
# still at work on the same folder (two runs of one day at once) keeps its own.
SWEEP_GRACE_SECONDS = 300


class UnsafeFileName(Refusal, ValueError):
    """A name that would not stay a single file inside its output folder."""


def check_name(name: str, *, what: str = "file name") -> str:
    """`name` if it is one plain file name; refuses anything that could become another path."""
    problem = None
    if not name or name in (".", ".."):
        problem = "is empty or a folder reference"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif "\x00" in name:
        problem = "contains a NUL character"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "contains a control character"
    elif len(name.encode("utf-8")) > NAME_MAX:
        problem = f"is longer than {NAME_MAX} bytes"
    if problem:
        shown = name if len(name) <= 60 else name[:60] + "..."
        raise UnsafeFileName(
            f"{what} {shown!r} {problem}: it cannot be a file in its output folder; correct the data it comes from"
        )
    return name


def safe_child(folder: Path | str, name: str, *, what: str = "file name") -> Path:
    """folder / name, for a name checked by `check_name`."""
    folder = Path(folder)
    child = folder / check_name(name, what=what)
    if child.parent != folder:  # cannot happen for a checked name; a last guard
        raise UnsafeFileName(f"{what} {name!r} leaves its folder {folder}")
    return child


def file_mode() -> int:
    """The mode of the files written (KESSAI_FILE_MODE, octal; default 0640)."""
    return environment_setting("file_mode")


def dir_mode() -> int:
    """The mode of the folders created (KESSAI_DIR_MODE, octal; default 0750)."""
    return environment_setting("dir_mode")


def make_folder(folder: Path | str, mode: int | None = None) -> Path:
    """The folder, created with its missing parents in `mode` (default dir_mode(), whatever the
    umask); an existing folder of ours gets the mode too."""
    folder = Path(folder)
    mode = dir_mode() if mode is None else mode
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, mode)
    if not missing and folder.stat().st_uid == os.geteuid() and (folder.stat().st_mode & 0o777) != mode:
        os.chmod(folder, mode)
    return folder


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}{PART_SUFFIX}")


@contextmanager
def writing(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file to write `path` with, piece by piece: a `.part` beside it created in `mode`
    (default file_mode()), renamed into place when the block ends; removed if anything fails."""
    mode = file_mode() if mode is None else mode
    temporary = temporary_path(path)
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "wb") as out:
            os.fchmod(out.fileno(), mode)  # the umask narrowed os.open's mode
            yield out
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_path(path: Path, content: bytes, *, mode: int | None = None) -> Path:
    """Write `content` to `path` whole (see `writing`)."""
    with writing(path, mode=mode) as out:
        out.write(content)
    return path


def write_stream(path: Path, write: Callable[[BinaryIO], object], *, mode: int | None = None) -> Path:
    """As write_path, the content written by `write(out)` piece by piece (a file too large to hold)."""
    with writing(path, mode=mode) as out:
        write(out)
    return path


def write_files(folder: Path | str, files: dict[str, bytes], *, mode: int | None = None) -> list[Path]:
    """Each file whole into `folder` (created as make_folder does), by names checked by safe_child.
    First sweeps the `.part` files earlier runs left in it and in the folders beside it (the other
    dates of the same output)."""
    started = time.time()
    names = {name: safe_child(folder, name) for name in files}  # every name checked before any write
    folder = make_folder(folder)
    sweep_tree(folder.parent, started)
    return [write_path(names[name], content, mode=mode) for name, content in files.items()]


def sweep_parts(folders: Iterable[Path | str], started: float, *, grace: float = SWEEP_GRACE_SECONDS) -> list[Path]:
    """Remove the temporary files in these folders that were last written before `started` (a
    time.time() of the sweeping run) by more than `grace` seconds. Returns what was removed."""
    removed = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        for pattern in PART_PATTERNS:
            for part in folder.glob(pattern):
                try:
                    if part.is_file() and part.stat().st_mtime < started - grace:
                        part.unlink()
                        removed.append(part)
                except FileNotFoundError:
                    continue  # its writer renamed or removed it meanwhile
    return removed


def sweep_tree(root: Path | str, started: float) -> list[Path]:
    """sweep_parts over a root and its sub-folders one level down (the date folders of an output)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sweep_parts([root, *(child for child in root.iterdir() if child.is_dir())], started)
