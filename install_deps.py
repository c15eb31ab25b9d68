#!/usr/bin/env python3
"""Set up everything the project needs, in one pip resolve.

    python install_deps.py              # .venv/ in the project root: runtime + tests (CPU torch)
    python install_deps.py --cuda       # the same with PyPI's CUDA build of torch (Linux)
    python install_deps.py --target DIR # runtime only, into DIR, with the running Python
                                        # (the Blender add-on calls this with Blender's Python)
    python install_deps.py --models     # the official network weights into ckpts/ (optional)

Only the standard library is used here. Setting up .venv/ needs Python 3.11 exactly (the tests
drive Blender through bpy==5.0.1, which is published for 3.11 only); ``--target`` and ``--models``
run on Python 3.11 or newer. Package set-up downloads from the package index only; model weights
are a separate, explicit step (``--models``, see docs/models.md): https only unless
``--allow-http``, resumed only when the server's validator (ETag / Last-Modified) says the file
is the same, checked for size and, where published, sha256.
"""
from __future__ import annotations

import argparse
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import venv
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
TORCH = "torch==2.13.0"
#: The runtime packages of cine_core: (pip requirement, module it is imported as, its name for
#: people). The one list: this script installs it, and the Blender add-on reads it to tell the
#: user what is missing. numpy stays below 2 because bpy 5.0 is built against 1.x; kornia 0.9 is
#: the first whose guided_blur has separable windows.
RUNTIME_PACKAGES: list[tuple[str, str, str]] = [
    (TORCH, "torch", "PyTorch"),
    ("numpy<2", "numpy", "NumPy"),
    ("opencv-python-headless>=4.8", "cv2", "OpenCV"),
    ("scipy>=1.10", "scipy", "SciPy"),
    ("kornia>=0.9", "kornia", "Kornia"),
    ("pillow>=10", "PIL", "Pillow"),
    ("imageio-ffmpeg>=0.4.9", "imageio_ffmpeg", "imageio-ffmpeg"),
]
RUNTIME = [requirement for requirement, _, _ in RUNTIME_PACKAGES]
#: The tests and bench scripts also write real video clips with imageio.
TESTING = ["bpy==5.0.1", "pytest>=7", "imageio>=2.31"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: bpy 5.0.1 (the tests' Blender) exists only as CPython 3.11 wheels.
TEST_PYTHON = (3, 11)
MIN_PYTHON = (3, 11)


def python_problem(version: tuple[int, int], with_tests: bool) -> str | None:
    """Why this Python cannot run the requested set-up, or None."""
    found = f"{version[0]}.{version[1]}"
    if version < MIN_PYTHON:
        return f"Python {found} is too old; use Python 3.11 or newer"
    if with_tests and version != TEST_PYTHON:
        return (f"the tests need bpy==5.0.1, which is published for Python 3.11 only, but this is Python "
                f"{found}; run this script with python3.11 (or use --target DIR for the runtime only)")
    return None


def _reachable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def pip_command(python: str, packages: list[str], *, cuda: bool, target: str | None) -> list[str]:
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", *packages]
    # PyPI's Linux torch is the multi-GB CUDA build; the CPU build lives on PyTorch's own index.
    # Where that index cannot be reached, pip's configured sources (a local wheel cache) decide.
    if not cuda and _reachable("download.pytorch.org"):
        command += ["--extra-index-url", CPU_INDEX]
    if target:
        command += ["--target", target, "--upgrade", "--no-user"]
    return command


def venv_python(path: str) -> str:
    return os.path.join(path, "Scripts" if os.name == "nt" else "bin",
                        "python.exe" if os.name == "nt" else "python")


# ------------------------------------------------------------------------------ model weights


def _weight_files():
    """``cine_core/nets/weight_files.py``, the table of files ``--models`` downloads, read by
    path: it imports nothing, so the installer needs no installed package to read it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cine_weight_files", os.path.join(ROOT, "cine_core", "nets", "weight_files.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_WEIGHT_FILES = _weight_files()
MODELS: list[dict] = _WEIGHT_FILES.MODELS
ARCHIVES: dict[str, dict] = _WEIGHT_FILES.ARCHIVES
#: Environment variable with a URL prefix that replaces every URL above (a mirror, or a local
#: server in the tests): <prefix>/<file name>.
URL_BASE_ENV = "CINE_MODELS_URL_BASE"
_CHUNK = 1 << 20
_ATTEMPTS = 3


class DownloadError(Exception):
    """One file could not be fetched; the message says why and what to do instead."""


class ManifestError(Exception):
    """The table of files (built in or ``--models-manifest``) is unusable."""


#: A weight file name: one plain name inside the folder (no path, no leading dot).
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
#: The largest member extracted from an archive (the published files are below 1 GB each).
MAX_MEMBER_BYTES = 8 << 30


def safe_name(name: object) -> str:
    """``name`` if it is a plain file name that stays inside the download folder."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name \
            or name.endswith((".part", ".part.json")):
        raise ManifestError(f"refusing the file name {name!r}: it must be a plain name like "
                            f"'model.pth' (no folders, no '..')")
    return name


def check_url(url: str, allow_http: bool) -> str:
    """``url`` if its scheme may be used: https, or http with ``--allow-http``."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and allow_http):
        return url
    if scheme == "http":
        raise DownloadError(f"refusing the plain-http URL {url}: its content could be changed on the way; "
                            f"use an https mirror, or pass --allow-http if you trust this network")
    raise DownloadError(f"refusing the URL {url!r}: only https (or http with --allow-http) is fetched")


def _manual_hint(name: str, page: str, folder: str) -> str:
    return f"download it by hand from {page} and put it in {os.path.join(folder, name)}"


class _Progress:
    """A one-line progress bar on stderr (a new line per 10% when stderr is not a terminal)."""

    def __init__(self, label: str, total: int | None, start: int = 0):
        self.label, self.total, self.done = label, total, start
        self.begin = time.monotonic()
        self.shown = -1.0
        self.tty = sys.stderr.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.tty and now - self.shown >= 0.1:
            self.shown = now
            self._draw("\r")
        elif not self.tty and self.total:
            decile = int(10 * self.done / self.total)
            if decile > self.shown:
                self.shown = decile
                self._draw("")

    def _draw(self, lead: str) -> None:
        mb = self.done / 1e6
        rate = mb / max(time.monotonic() - self.begin, 1e-6)
        if self.total:
            fraction = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * fraction) + "." * (30 - int(30 * fraction))
            text = f"{self.label} [{bar}] {100 * fraction:5.1f}% {mb:8.1f}/{self.total / 1e6:.1f} MB {rate:6.1f} MB/s"
        else:
            text = f"{self.label} {mb:8.1f} MB {rate:6.1f} MB/s"
        sys.stderr.write(lead + text + ("" if self.tty else "\n"))
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            self._draw("\r")
            sys.stderr.write("\n")
        elif not self.total or self.shown < 10:
            self._draw("")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: str, entry: dict) -> str | None:
    """None when ``path`` passes the known checks of ``entry``, else what is wrong."""
    size = os.path.getsize(path)
    if entry.get("size") is not None and size != int(entry["size"]):
        return f"size {size} bytes instead of {entry['size']}"
    expected = entry.get("sha256") or entry.get("sha256_prefix")
    if expected:
        actual = _sha256(path)
        if not actual.startswith(str(expected).lower()):
            return f"sha256 {actual[:16]}... does not match the published {expected}"
    return None


def _remove(*paths: str) -> None:
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but never from https to plain http (unless --allow-http)."""

    def __init__(self, allow_http: bool):
        self.allow_http = allow_http

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(urllib.parse.urljoin(req.full_url, newurl), self.allow_http)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _validator(response) -> str | None:
    """What ``If-Range`` may quote later: a strong ETag, else Last-Modified."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _fetch(url: str, part: str, label: str, timeout: float, allow_http: bool = False,
           hashed: bool = False) -> None:
    """Download ``url`` into ``part``, resuming from its current length (HTTP Range).

    A partial file is resumed only with ``If-Range`` quoting the validator the server gave when
    it began (kept in ``<part>.json``), so a file that changed on the server meanwhile comes
    whole (200) instead of being spliced; without a validator only a file whose sha256 is known
    is resumed (the hash then catches a changed file), anything else starts again.
    """
    check_url(url, allow_http)
    state_path = part + ".json"
    have = os.path.getsize(part) if os.path.exists(part) else 0
    state = {}
    if have and os.path.exists(state_path):
        try:
            with open(state_path, encoding="utf-8") as handle:
                state = json.load(handle)
        except (OSError, ValueError, RecursionError):
            state = {}
    state = state if isinstance(state, dict) else {}
    validator = state.get("validator") if state.get("url") == url else None
    validator = validator if isinstance(validator, str) and validator.isprintable() else None
    if have and not validator and not hashed:
        have = 0  # nothing proves the server's file is still the one we began
    request = urllib.request.Request(url, headers={"User-Agent": "cine-install-deps/1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
        if validator:
            request.add_header("If-Range", validator)
    opener = urllib.request.build_opener(_NoDowngrade(allow_http))
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and state.get("total") == have:  # the part is already complete
            return
        if exc.code == 416:  # the part does not fit the server's file: start again
            _remove(part, state_path)
            raise ConnectionError("the partial download does not match the server's file; starting again")
        raise
    with response:
        check_url(response.geturl(), allow_http)
        if response.headers.get_content_type() == "text/html":
            raise DownloadError(f"{url} answered with a web page instead of the file (the link may have "
                                f"moved, or the host asks for a confirmation or hit its quota)")
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None and length.isdigit() else None
        if have and response.status == 206:
            match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != have:
                _remove(part, state_path)
                raise ConnectionError("the server resumed at another place; starting again")
            total = int(match.group(3)) if match.group(3) != "*" else None
        else:
            have = 0  # a whole file (200): the server ignored the range, or its file changed
            total = length
        with open(state_path, "w", encoding="utf-8") as handle:
            json.dump({"url": url, "validator": _validator(response), "total": total}, handle)
        progress = _Progress(label, total, have)
        with open(part, "ab" if have else "wb") as handle:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                handle.write(block)
                progress.advance(len(block))
                if total is not None and progress.done > total:
                    break
            handle.flush()
            os.fsync(handle.fileno())  # a full disk shows here, not after the file is in place
        progress.finish()
        size = os.path.getsize(part)
        if total is not None and size > total:
            _remove(part, state_path)
            raise DownloadError(f"{url} sent more than the {total} bytes it announced; the download was deleted")
        if total is not None and size < total:
            raise ConnectionError(f"connection closed after {size} of {total} bytes")


def _describe_failure(url: str, exc: BaseException) -> str:
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in (404, 410):
            return f"{url}: HTTP {exc.code}, the link has moved or the file was removed"
        return f"{url}: HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.gaierror, ConnectionRefusedError, TimeoutError, socket.timeout)) or \
            isinstance(exc, (TimeoutError, socket.timeout)):
        return f"cannot reach {host} ({reason}); are you offline?"
    return f"{url}: {reason}"


#: What writing a file answers when the disk (or the user's quota, or file size limit) is full.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _disk_full(name: str, path: str, exc: OSError) -> str:
    return (f"no room to write {name} in {os.path.dirname(os.path.abspath(path))} ({exc.strerror}); nothing "
            f"was kept. Free some space and run again")


def _download_from(url: str, part: str, name: str, timeout: float, allow_http: bool = False,
                   hashed: bool = False) -> str | None:
    """Fetch ``url`` into ``part``, resuming after interruptions; None on success, else why not."""
    for attempt in range(_ATTEMPTS):
        try:
            _fetch(url, part, f"  {name}", timeout, allow_http, hashed)
            return None
        except DownloadError as exc:
            return str(exc)
        except urllib.error.HTTPError as exc:
            return _describe_failure(url, exc)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
                _remove(part, part + ".json")  # a retry cannot help, and the part holds the space
                return _disk_full(name, part, exc)
            message = _describe_failure(url, exc)
            if "offline" in message or attempt == _ATTEMPTS - 1:
                return message
            sys.stderr.write(f"\n  interrupted ({exc}); resuming\n")
    return f"{url}: failed"


def download(entry: dict, folder: str, url_base: str | None = None, timeout: float = 60.0,
             manual: str | None = None, allow_http: bool = False) -> str:
    """Fetch one file (or archive) into ``folder`` and check it; returns its path.

    The download goes to ``<name>.part`` first (with ``<name>.part.json``, the server's
    validator; both stay after an interruption so that a later run can resume) and is renamed
    only once complete and checked, so the weight file appears whole or not at all; a file that
    fails a check is deleted.

    Args:
        manual: what to tell the user to do by hand (default: download ``entry`` from its page
            and put it in ``folder``).

    Raises:
        DownloadError: with what went wrong and where to put a file downloaded by hand.
    """
    name = safe_name(entry["file"])
    target = os.path.join(folder, name)
    part = target + ".part"
    urls = [f"{url_base.rstrip('/')}/{urllib.parse.quote(name)}"] if url_base else list(entry["urls"])
    hashed = bool(entry.get("sha256") and len(str(entry["sha256"])) == 64)
    failures = []
    for url in urls:
        failure = _download_from(url, part, name, timeout, allow_http, hashed)
        if failure is not None:
            failures.append(failure)
            continue
        problem = _check(part, entry)
        if problem:
            _remove(part, part + ".json")
            raise DownloadError(f"{name}: {problem}; the download was deleted. Try again, or "
                                f"{manual or _manual_hint(name, entry.get('page', url), folder)}")
        os.replace(part, target)
        _remove(part + ".json")
        return target
    hint = manual or _manual_hint(name, entry.get("page", urls[0]), folder)
    raise DownloadError(f"{name}: " + "; ".join(failures) + ". " + hint[0].upper() + hint[1:])


def _extract(archive: str, wanted: list[str], folder: str) -> list[str]:
    """Extract the members of ``archive`` whose file names are in ``wanted`` into ``folder``."""
    found = []
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                base = os.path.basename(member.filename.replace("\\", "/"))
                if base in wanted and base not in found and not member.is_dir():
                    if member.file_size > MAX_MEMBER_BYTES:
                        raise DownloadError(f"{os.path.basename(archive)}: {base} claims {member.file_size} "
                                            f"bytes, more than any weight file; refusing to extract it")
                    part = os.path.join(folder, base + ".part")
                    try:
                        with bundle.open(member) as source, open(part, "wb") as sink:
                            shutil.copyfileobj(source, sink, _CHUNK)
                            sink.flush()
                            os.fsync(sink.fileno())
                        os.replace(part, os.path.join(folder, base))
                    except OSError as exc:
                        if exc.errno not in _DISK_FULL:
                            raise
                        raise DownloadError(_disk_full(base, part, exc)) from None
                    finally:
                        _remove(part)
                    found.append(base)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise DownloadError(f"{os.path.basename(archive)} is not a valid zip ({exc})") from None
    return found


def _check_entry(entry: object, where: str, archives: dict) -> dict:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} is not an object")
    safe_name(entry.get("file"))
    urls = entry.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestError(f"{where}: 'urls' must be a list of strings")
    if "archive" in entry:
        if safe_name(entry["archive"]) not in archives:
            raise ManifestError(f"{where}: archive {entry['archive']!r} is not in 'archives'")
    elif not urls:
        raise ManifestError(f"{where}: no 'urls' and no 'archive'")
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ManifestError(f"{where}: 'size' must be a whole number of bytes")
    for key, lengths in (("sha256", (64,)), ("sha256_prefix", range(8, 65))):
        value = entry.get(key)
        if value is not None and not (isinstance(value, str) and len(value) in lengths
                                      and re.fullmatch(r"[0-9a-fA-F]+", value)):
            raise ManifestError(f"{where}: {key!r} must be hexadecimal digits")
    return entry


def load_manifest(path: str | None) -> tuple[list[dict], dict[str, dict]]:
    """The built-in tables, or those of a JSON file ``{"models": [...], "archives": {...}}``,
    every name, URL list, size and hash checked."""
    if not path:
        models, archives = MODELS, ARCHIVES
    else:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ManifestError(f"cannot read the manifest {path} ({str(exc)[:100]})") from None
        if not isinstance(data, dict) or not isinstance(data.get("models", []), list) \
                or not isinstance(data.get("archives", {}), dict):
            raise ManifestError(f"{path}: expected {{\"models\": [...], \"archives\": {{...}}}}")
        models, archives = list(data.get("models", [])), dict(data.get("archives", {}))
    for name, archive in archives.items():
        _check_entry(dict(archive, file=name) if isinstance(archive, dict) else archive,
                     f"archive {name!r}", archives)
    return [_check_entry(e, f"model entry {i}", archives) for i, e in enumerate(models)], archives


def install_models(folder: str, url_base: str | None = None, manifest: str | None = None,
                   timeout: float = 60.0, allow_http: bool = False) -> int:
    """Download every missing weight file into ``folder``; returns the number of failures.

    Raises:
        ManifestError: the table of files is unusable (nothing is downloaded then).
        DownloadError: ``url_base`` is not https (and ``allow_http`` not given).
    """
    models, archives = load_manifest(manifest)
    if url_base:
        check_url(url_base, allow_http)
    os.makedirs(folder, exist_ok=True)
    failures = 0
    pending_archives: dict[str, list[dict]] = {}
    for entry in models:
        target = os.path.join(folder, entry["file"])
        if os.path.isfile(target):
            problem = _check(target, entry)
            if problem is None:
                print(f"{entry['file']}: already there", flush=True)
                continue
            print(f"{entry['file']}: present but {problem}; downloading it again", flush=True)
            os.remove(target)
        if entry.get("archive"):
            pending_archives.setdefault(entry["archive"], []).append(entry)
            continue
        print(f"{entry['file']}: downloading", flush=True)
        try:
            download(entry, folder, url_base, timeout, allow_http=allow_http)
            print(f"{entry['file']}: ok", flush=True)
        except DownloadError as exc:
            failures += 1
            print(f"error: {exc}", file=sys.stderr, flush=True)
    for archive_name, entries in pending_archives.items():
        spec = dict(archives[archive_name], file=archive_name)
        wanted = [e["file"] for e in entries]
        print(f"{archive_name} (holds {', '.join(wanted)}): downloading", flush=True)
        page = spec.get("page", spec["urls"][0])
        manual = (f"Download it by hand from {page}, unzip it and put "
                  + " and ".join(f"its {name} as {os.path.join(folder, name)}" for name in wanted))
        try:
            path = download(spec, folder, url_base, timeout, manual, allow_http)
            try:
                found = _extract(path, wanted, folder)
            finally:
                _remove(path)  # the archive is only a carrier: never left in the folder
        except DownloadError as exc:
            failures += len(entries)
            print(f"error: {exc}", file=sys.stderr, flush=True)
            continue
        for entry in entries:
            target = os.path.join(folder, entry["file"])
            problem = _check(target, entry) if entry["file"] in found else f"not in {archive_name}"
            if problem:
                failures += 1
                if os.path.isfile(target):
                    os.remove(target)
                print(f"error: {entry['file']}: {problem}. "
                      f"{_manual_hint(entry['file'], entry.get('page', spec['urls'][0]), folder)}",
                      file=sys.stderr, flush=True)
            else:
                print(f"{entry['file']}: ok", flush=True)
    print("all weights are in place" if not failures else f"{failures} file(s) missing: the stages that "
          f"need them stay weight-free (see docs/models.md)", flush=True)
    return failures


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cuda", action="store_true", help="install the CUDA build of torch")
    parser.add_argument("--target", help="install runtime packages into this folder with this Python")
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv"), help="virtual environment path")
    parser.add_argument("--models", action="store_true",
                        help="download the official network weights (nothing else) into --ckpts")
    parser.add_argument("--ckpts", default=os.path.join(ROOT, "ckpts"), help="folder for the weights")
    parser.add_argument("--models-url-base", default=os.environ.get(URL_BASE_ENV) or None,
                        help=f"fetch every file from <URL>/<file name> instead (a mirror); also ${URL_BASE_ENV}")
    parser.add_argument("--models-manifest", help="JSON file replacing the table of files, URLs and hashes")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    parser.add_argument("--allow-http", action="store_true",
                        help="also fetch weights over plain http (a mirror on a trusted network); "
                             "https only by default")
    args = parser.parse_args(argv)
    problem = python_problem(sys.version_info[:2], with_tests=not (args.models or args.target))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.models:
        if not 0 < args.timeout <= 3600:
            print("error: --timeout must be above 0 and at most 3600 seconds", file=sys.stderr)
            return 2
        # The add-on's Cancel terminates this process: clean up as for Ctrl-C.
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _stop) if in_main_thread else None
        try:
            failures = install_models(args.ckpts, args.models_url_base, args.models_manifest, args.timeout,
                                      args.allow_http)
        except (ManifestError, DownloadError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ncancelled; no weight file was half-written (a partial download stays as <name>.part "
                  "and is resumed next time)", file=sys.stderr)
            return 130
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
        return 1 if failures else 0
    if args.target:
        os.makedirs(args.target, exist_ok=True)
        packages = list(RUNTIME)
        try:  # keep the host's numpy (Blender ships one): install the same version, not a newer one
            import numpy
            packages = [p for p in packages if not p.startswith("numpy")] + [f"numpy=={numpy.__version__}"]
        except ImportError:
            pass
        command = pip_command(sys.executable, packages, cuda=args.cuda, target=args.target)
    else:
        if not os.path.exists(venv_python(args.venv)):
            print(f"creating {args.venv}", flush=True)
            venv.EnvBuilder(with_pip=True).create(args.venv)
        command = pip_command(venv_python(args.venv), RUNTIME + TESTING, cuda=args.cuda, target=None)
    print(" ".join(command), flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        print("error: package installation failed (see pip's message above)", file=sys.stderr)
        return result.returncode
    print("dependencies installed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
