#!/usr/bin/env python3
"""Set up everything the project needs, in one pip resolve.

    python install_deps.py              # .venv/ in the project root: runtime + tests (CPU torch)
    python install_deps.py --cuda       # the same with PyPI's CUDA build of torch (Linux)
    python install_deps.py --target DIR # runtime only, into DIR, with the running Python
                                        # (the Blender add-on calls this with Blender's Python)
    python install_deps.py --models     # the official network weights into ckpts/ (optional)

Only the standard library is used here, so any Python 3.11+ can run it. Package set-up downloads
from the package index only; model weights are a separate, explicit step (``--models``, see
docs/models.md).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import venv
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
TORCH = "torch==2.13.0"
#: Runtime packages of cine_core; numpy stays below 2 because bpy 5.0 is built against 1.x.
RUNTIME = [TORCH, "numpy<2", "opencv-python-headless>=4.8", "scipy>=1.10", "kornia>=0.7",
           "imageio>=2.31", "imageio-ffmpeg>=0.4.9"]
TESTING = ["bpy==5.0.1", "pytest>=7"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


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
#
# Where the official files come from. Every URL below is copied from the original projects' own
# code or README (quoted in docs/models.md); none could be fetched from the machine this was
# written on, so they are unverified until a user's download succeeds. Hashes: only the DPT file
# has one published, as the 8-hex-digit SHA-256 prefix in its name (torch.hub convention; MiDaS's
# hubconf.py loads it with check_hash=True). No other hash or size is published, and none is made
# up here: those files are checked for being complete (the server's length) and readable only.

#: The 3D Cinemagraphy weights are one zip on Google Drive (README: "Download pretrained models
#: from Google Drive, then unzip and put them in the directory ckpts"); its member layout is not
#: documented, so members are matched by file name.
CINEMAGRAPHY_DRIVE_ID = "1ROxvB7D-vNYl4eYmIzZ5Gitg84amMd19"
CINEMAGRAPHY_ZIP = "3d-cinemagraphy-ckpts.zip"

MODELS: list[dict] = [
    {"file": "dpt_hybrid-midas-501f0c75.pt",
     "urls": ["https://github.com/intel-isl/MiDaS/releases/download/v3/dpt_hybrid-midas-501f0c75.pt",
              "https://github.com/intel-isl/DPT/releases/download/1_0/dpt_hybrid-midas-501f0c75.pt"],
     "sha256_prefix": "501f0c75",
     "page": "https://github.com/isl-org/MiDaS/releases/tag/v3"},
    {"file": "dpt_hybrid-ade20k-53898607.pt",
     "urls": ["https://github.com/intel-isl/DPT/releases/download/1_0/dpt_hybrid-ade20k-53898607.pt"],
     "page": "https://github.com/isl-org/DPT (README, Segmentation)"},
    {"file": "depth-model.pth",
     "urls": ["https://filebox.ece.vt.edu/~jbhuang/project/3DPhoto/model/depth-model.pth"],
     "page": "https://github.com/vt-vl-lab/3d-photo-inpainting (download.sh)"},
    {"file": "color-model.pth",
     "urls": ["https://filebox.ece.vt.edu/~jbhuang/project/3DPhoto/model/color-model.pth"],
     "page": "https://github.com/vt-vl-lab/3d-photo-inpainting (download.sh)"},
    {"file": "model_150000.pth", "archive": CINEMAGRAPHY_ZIP,
     "page": f"https://drive.google.com/file/d/{CINEMAGRAPHY_DRIVE_ID}/view (3D Cinemagraphy README)"},
    {"file": "sceneflow_model.pth", "archive": CINEMAGRAPHY_ZIP,
     "page": f"https://drive.google.com/file/d/{CINEMAGRAPHY_DRIVE_ID}/view (3D Cinemagraphy README)"},
]
ARCHIVES: dict[str, dict] = {
    CINEMAGRAPHY_ZIP: {
        "urls": [f"https://drive.usercontent.google.com/download?id={CINEMAGRAPHY_DRIVE_ID}"
                 f"&export=download&confirm=t"],
        "page": f"https://drive.google.com/file/d/{CINEMAGRAPHY_DRIVE_ID}/view"},
}
#: Environment variable with a URL prefix that replaces every URL above (a mirror, or a local
#: server in the tests): <prefix>/<file name>.
URL_BASE_ENV = "CINE_MODELS_URL_BASE"
_CHUNK = 1 << 20
_ATTEMPTS = 3


class DownloadError(Exception):
    """One file could not be fetched; the message says why and what to do instead."""


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


def _fetch(url: str, part: str, label: str, timeout: float) -> None:
    """Download ``url`` into ``part``, resuming from its current length (HTTP Range)."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"User-Agent": "cine-install-deps/1"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part is already complete
            return
        raise
    with response:
        if response.headers.get_content_type() == "text/html":
            raise DownloadError(f"{url} answered with a web page instead of the file (the link may have "
                                f"moved, or the host asks for a confirmation or hit its quota)")
        if have and response.status != 206:
            have = 0  # the server ignored the Range request: start again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        progress = _Progress(label, total, have)
        with open(part, "ab" if have else "wb") as handle:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                handle.write(block)
                progress.advance(len(block))
        progress.finish()
        if total is not None and os.path.getsize(part) < total:
            raise ConnectionError(f"connection closed after {os.path.getsize(part)} of {total} bytes")


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


def _download_from(url: str, part: str, name: str, timeout: float) -> str | None:
    """Fetch ``url`` into ``part``, resuming after interruptions; None on success, else why not."""
    for attempt in range(_ATTEMPTS):
        try:
            _fetch(url, part, f"  {name}", timeout)
            return None
        except DownloadError as exc:
            return str(exc)
        except urllib.error.HTTPError as exc:
            return _describe_failure(url, exc)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            message = _describe_failure(url, exc)
            if "offline" in message or attempt == _ATTEMPTS - 1:
                return message
            sys.stderr.write(f"\n  interrupted ({exc}); resuming\n")
    return f"{url}: failed"


def download(entry: dict, folder: str, url_base: str | None = None, timeout: float = 60.0,
             manual: str | None = None) -> str:
    """Fetch one file (or archive) into ``folder`` and check it; returns its path.

    The download goes to ``<name>.part`` first (resumed with HTTP Range after an interruption,
    also in a later run) and is renamed only once complete and checked; a file that fails a
    check is deleted.

    Args:
        manual: what to tell the user to do by hand (default: download ``entry`` from its page
            and put it in ``folder``).

    Raises:
        DownloadError: with what went wrong and where to put a file downloaded by hand.
    """
    name = entry["file"]
    target = os.path.join(folder, name)
    part = target + ".part"
    urls = [f"{url_base.rstrip('/')}/{urllib.parse.quote(name)}"] if url_base else list(entry["urls"])
    failures = []
    for url in urls:
        failure = _download_from(url, part, name, timeout)
        if failure is not None:
            failures.append(failure)
            continue
        problem = _check(part, entry)
        if problem:
            os.remove(part)
            raise DownloadError(f"{name}: {problem}; the download was deleted. Try again, or "
                                f"{manual or _manual_hint(name, entry.get('page', url), folder)}")
        os.replace(part, target)
        return target
    hint = manual or _manual_hint(name, entry.get("page", urls[0]), folder)
    raise DownloadError(f"{name}: " + "; ".join(failures) + ". " + hint[0].upper() + hint[1:])


def _extract(archive: str, wanted: list[str], folder: str) -> list[str]:
    """Extract the members of ``archive`` whose file names are in ``wanted`` into ``folder``."""
    found = []
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                base = os.path.basename(member.filename)
                if base in wanted and base not in found and not member.is_dir():
                    part = os.path.join(folder, base + ".part")
                    with bundle.open(member) as source, open(part, "wb") as sink:
                        shutil.copyfileobj(source, sink, _CHUNK)
                    os.replace(part, os.path.join(folder, base))
                    found.append(base)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{os.path.basename(archive)} is not a valid zip ({exc})") from None
    return found


def load_manifest(path: str | None) -> tuple[list[dict], dict[str, dict]]:
    """The built-in tables, or those of a JSON file ``{"models": [...], "archives": {...}}``."""
    if not path:
        return MODELS, ARCHIVES
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return list(data.get("models", [])), dict(data.get("archives", {}))


def install_models(folder: str, url_base: str | None = None, manifest: str | None = None,
                   timeout: float = 60.0) -> int:
    """Download every missing weight file into ``folder``; returns the number of failures."""
    os.makedirs(folder, exist_ok=True)
    models, archives = load_manifest(manifest)
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
            download(entry, folder, url_base, timeout)
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
            path = download(spec, folder, url_base, timeout, manual)
            found = _extract(path, wanted, folder)
            os.remove(path)
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
    args = parser.parse_args(argv)
    if args.models:
        return 1 if install_models(args.ckpts, args.models_url_base, args.models_manifest, args.timeout) else 0
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
