"""``asv publish``, then make the pages render without internet (issue #21).

    python benchmarks/tools/publish.py [--vendor-only] [ASV PUBLISH OPTIONS]

asv's ``index.html`` loads jquery, flot, bootstrap, blueimp-md5, stupidtable and
flot-orderbars from CDNs; offline the browser gets asv's error page instead. After
``asv publish`` this script fetches each of those files, in the version the template names,
from the npm registry (``npm pack``; tarballs kept in ``.asv/npm``), copies it with its licence
under ``<html_dir>/vendor/<package>@<version>/``, points the page's tag at the local copy (with
an ``integrity`` hash of the local bytes) and writes ``vendor/README.md``: what came from where,
whether the bytes are the CDN's own (the template's hash matches) and each licence. It fails
if any script or stylesheet is still loaded from another host.

Where the npm registry lacks the template's version, the nearest release of the same major
version is taken and the README says so (asv 0.6.x names stupidtable 1.0.1, which cdnjs has and
npm does not: ``stupid-table-plugin`` 1.1.3 is the same plugin, same API). cdnjs's minified
flot 0.8.3 files are the minified form of the npm package's ``jquery.flot.*.js``, used as is.

Serve the result (browsers refuse ``info.json`` to a page opened from disk):
``python -m http.server -d .asv/html 8080`` or ``asv preview``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NPM_CACHE = ROOT / ".asv" / "npm"

#: CDN URL patterns -> (npm package, version, path in the package). {name} etc. from the match.
RULES: list[tuple[str, str, str]] = [
    (
        r"https://code\.jquery\.com/jquery-(?P<v>[\d.]+)(?P<min>\.min)?\.js",
        "jquery",
        "dist/jquery{min}.js",
    ),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/flot/(?P<v>[\d.]+)/(?P<name>jquery\.flot(?:\.(?!min\.js)\w+)?)(?P<min>\.min)?\.js",
        "flot",
        "{name}{min}.js|{name}.js",
    ),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/stupidtable/(?P<v>[\d.]+)/stupidtable(?P<min>\.min)?\.js",
        "stupid-table-plugin",
        "stupidtable{min}.js",
    ),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/blueimp-md5/(?P<v>[\d.]+)/(?P<path>.+)",
        "blueimp-md5",
        "{path}",
    ),
    (
        r"https://cdn\.jsdelivr\.net/npm/(?P<pkg>[^@/]+)@(?P<v>[^/]+)/(?P<path>.+)",
        "{pkg}",
        "{path}",
    ),
]

TAG = re.compile(r"<(script|link)\b[^>]*?\b(src|href)=\"(https?://[^\"]+)\"[^>]*>", re.I)


@dataclass
class Vendored:
    url: str
    package: str
    wanted: str
    version: str
    path: str
    local: str
    same_bytes: bool | None
    license: str
    tarball: str
    npm_integrity: str


def _npm(*args: str) -> str:
    if shutil.which("npm") is None:
        raise SystemExit(
            "npm is needed to fetch the pages' scripts (Debian: apt-get install -y npm)"
        )
    done = subprocess.run(["npm", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"npm {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def _version(package: str, wanted: str) -> str:
    """``wanted`` if the registry has it, else the newest release of the same major version."""
    index = NPM_CACHE / f"{package}.versions.json"
    if not index.exists():
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        index.write_text(_npm("view", package, "versions", "--json"))
    versions = json.loads(index.read_text())
    versions = [versions] if isinstance(versions, str) else versions
    if wanted in versions:
        return wanted
    major = wanted.split(".")[0]
    same = [v for v in versions if v.split(".")[0] == major and re.fullmatch(r"[\d.]+", v)]
    if not same:
        raise SystemExit(f"npm has no {package} {major}.x (wanted {wanted}; has {versions})")
    return max(same, key=lambda v: tuple(int(p) for p in v.split(".")))


def _tarball(package: str, version: str) -> tuple[Path, dict]:
    """The package's tarball from the registry (kept in .asv/npm) and npm's metadata for it."""
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    meta_path = NPM_CACHE / f"{package}-{version}.json"
    if not meta_path.exists():
        meta = json.loads(
            _npm("pack", f"{package}@{version}", "--json", "--pack-destination", str(NPM_CACHE))
        )[0]
        meta_path.write_text(json.dumps(meta, indent=1))
    meta = json.loads(meta_path.read_text())
    return NPM_CACHE / meta["filename"], meta


def _sri(data: bytes, algorithm: str) -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def _extract(tar: tarfile.TarFile, member: str, to: Path) -> bytes:
    data = tar.extractfile(f"package/{member}").read()
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(data)
    return data


def _license(package_json: dict, files: dict[str, bytes]) -> str:
    """The licence as package.json names it, else as its licence file reads; and which file."""
    field = package_json.get("license") or package_json.get("licenses")
    if isinstance(field, dict):
        field = field.get("type")
    if isinstance(field, list):
        field = ", ".join(x.get("type", "?") for x in field)
    if not field:
        text = b" ".join(files.values())
        mit = b"Permission is hereby granted, free of charge" in text
        field = "MIT (from its licence text)" if mit else "see its licence file"
    if files:
        return f"{field}: {', '.join(sorted(files))}"
    return f"{field} (package.json; the package ships no licence file)"


def vendor_one(url: str, integrity: str | None, html_dir: Path) -> Vendored:
    match, package, path = next(
        (
            (m, package, path)
            for pattern, package, path in RULES
            if (m := re.fullmatch(pattern, url))
        ),
        (None, "", ""),
    )
    if match is None:
        raise SystemExit(f"no npm package known for {url}: add a rule to {__file__}")
    fields = {k: (v or "") for k, v in match.groupdict().items()}
    package = package.format(**fields)
    wanted = fields["v"]
    version = _version(package, wanted)
    tarball, meta = _tarball(package, version)
    base = Path("vendor") / f"{package}@{version}"
    with tarfile.open(tarball) as tar:
        names = {m.name.removeprefix("package/") for m in tar.getmembers()}
        choices = [p.format(**fields) for p in path.split("|")]
        chosen = next((c for c in choices if c in names), None)
        if chosen is None:
            raise SystemExit(f"{package}@{version} has none of {choices}")
        data = _extract(tar, chosen, html_dir / base / chosen)
        if chosen.endswith(".css"):  # its fonts and images, referenced relative to it
            folder = str(Path(chosen).parent.parent)
            for name in names:
                if name.startswith(f"{folder}/fonts/"):
                    _extract(tar, name, html_dir / base / name)
        licence_files = {}
        for name in names:  # the licence, whatever the file is called
            if "/" not in name and re.match(r"(licen[cs]e|copying)", name, re.I):
                licence_files[name] = _extract(tar, name, html_dir / base / name)
        package_json = json.loads(tar.extractfile("package/package.json").read())
    license_field = _license(package_json, licence_files)
    same = None
    if integrity:
        algorithm = integrity.split("-", 1)[0]
        same = _sri(data, algorithm) == integrity
    return Vendored(
        url=url,
        package=package,
        wanted=wanted,
        version=version,
        path=chosen,
        local=(base / chosen).as_posix(),
        same_bytes=same,
        license=str(license_field),
        tarball=f"{package}-{version}.tgz",
        npm_integrity=meta.get("integrity", ""),
    )


def vendor(html_dir: Path) -> list[Vendored]:
    """Point every CDN script and stylesheet of the published pages at a local npm copy."""
    done: list[Vendored] = []
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text()

        def local(match: re.Match) -> str:
            tag, url = match.group(0), html.unescape(match.group(3))
            found = re.search(r'\bintegrity="([^"]+)"', tag)
            item = vendor_one(url, found.group(1) if found else None, html_dir)
            done.append(item)
            tag = tag.replace(match.group(3), item.local)
            data = (html_dir / item.local).read_bytes()
            if found:
                algorithm = found.group(1).split("-", 1)[0]
                tag = tag.replace(found.group(0), f'integrity="{_sri(data, algorithm)}"')
            return re.sub(r'\s*referrerpolicy="[^"]*"', "", tag)

        text = TAG.sub(local, text)
        if not done:
            continue  # already vendored (--vendor-only again): keep vendor/README.md
        left = TAG.findall(text)
        if left:
            raise SystemExit(f"{page.name} still loads from other hosts: {[u for *_, u in left]}")
        page.write_text(text)
    if done:
        _write_readme(html_dir, done)
    return done


def _write_readme(html_dir: Path, items: list[Vendored]) -> None:
    unique = {(i.package, i.version, i.path): i for i in items}.values()
    lines = [
        "# Third-party files of these pages",
        "",
        "asv's page template loads these from CDNs; `benchmarks/tools/publish.py` fetched each",
        "from the npm registry at publish time (`npm pack`), so the pages render offline.",
        "Each package's licence file is in its folder.",
        "",
        "| file here | npm package | template's version | licence | the CDN's bytes? | replaces |",
        "|---|---|---|---|---|---|",
    ]
    for i in unique:
        same = {True: "yes (its hash)", False: "no: the npm file", None: "no hash to compare"}
        version = i.version if i.version == i.wanted else f"{i.version} (npm lacks {i.wanted})"
        lines.append(
            f"| `{i.local}` | {i.package}@{i.version} ({i.npm_integrity[:20]}…) | {version} | "
            f"{i.license} | {same[i.same_bytes]} | {i.url} |"
        )
    (html_dir / "vendor").mkdir(parents=True, exist_ok=True)
    (html_dir / "vendor" / "README.md").write_text("\n".join(lines) + "\n")


def html_dir_of_config() -> Path:
    from asv.util import load_json

    conf = load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    return ROOT / conf.get("html_dir", "html")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    vendor_only = "--vendor-only" in argv
    argv = [a for a in argv if a != "--vendor-only"]
    if not vendor_only:
        subprocess.run([sys.executable, "-m", "asv", "publish", *argv], cwd=ROOT, check=True)
    html_dir = html_dir_of_config()
    for flag in ("--html-dir", "-o"):
        if flag in argv[:-1]:
            html_dir = ROOT / argv[argv.index(flag) + 1]
    items = vendor(html_dir)
    for i in {(i.package, i.version, i.path): i for i in items}.values():
        note = "" if i.version == i.wanted else f" (npm lacks {i.wanted})"
        same = " = CDN bytes" if i.same_bytes else ""
        print(f"vendored {i.package}@{i.version}{note}: {i.local} [{i.license}]{same}")
    print(f"pages in {html_dir}: serve with `python -m http.server -d {html_dir} 8080`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
