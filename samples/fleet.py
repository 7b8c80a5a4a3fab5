#!/usr/bin/env python3
"""Generate a fleet of varied sample bundles (stdlib only, deterministic for a seed).

    python samples/fleet.py OUT_DIR --count 200 [--seed 7]

Each bundle is one of the scenarios of ``samples/generate.py`` (its builders are reused, so every
line still comes from the documented templates), varied per bundle:

* causes in fleet-like proportions (:data:`WEIGHTS`: most bundles healthy, then
  no-internet-access, agent-outdated, wireserver-unreachable, ...);
* host name, IP address, region and all random ids (GUIDs, pids, timings);
* dates: the whole scenario is moved to a collection time between :data:`FIRST_DAY` and
  :data:`LAST_DAY` (every absolute time of a builder comes from ``generate.T``, which is wrapped
  with the shift while the builder runs; the two date literals a builder writes directly are
  shifted at the file level);
* agent versions: the goal-state agent is one released before the collection time
  (:data:`RELEASES`), the installed daemon one of :data:`DAEMONS` (ISO-era scenarios), the
  outdated agent one of :data:`LEGACY` (2.2.x, E1 format). Version literals of a builder are
  replaced at the file level (inside .gz logs and history zips too), then ``results.txt`` is
  rebuilt so that its file list and sizes stay true;
* layout: unpacked folder, log-collector zip (files at the root, collector order) or tar.gz
  under a leading folder.

``OUT_DIR/index.tsv`` lists them: bundle, cause (intended top cause, empty = healthy),
agent_version, then scenario, layout, host, collected (ISO UTC) and other acceptable causes.
The builders are run one at a time (they read module globals); a run is not thread-safe.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import random
import re
import shutil
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
HERE = Path(__file__).resolve().parent


def _load_generate():
    """samples/generate.py as a module (under a private name: 'generate' is too common)."""
    name = "_loganalyzer_samples_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


G = _load_generate()

#: relative share of each scenario (sample name of generate.BUNDLES); unknown names weigh 1
WEIGHTS = {
    "healthy": 46,
    "no-internet-access": 12,
    "agent-outdated": 9,
    "wireserver-unreachable": 7,
    "extension-load-failure": 6,
    "dhcp-245-missing": 5,
    "agent-crash-loop": 4,
    "snapshot-status-unavailable": 4,
    "extensions-disabled": 3,
    "snapshot-fsfreeze-failed": 2,
    "proxy-misconfigured": 2,
}
LAYOUTS = (("folder", 0.5), ("zip", 0.35), ("tar.gz", 0.15))
FIRST_DAY = datetime(2023, 10, 1, tzinfo=UTC)
LAST_DAY = datetime(2025, 12, 15, tzinfo=UTC)
ROLLOUT = timedelta(days=21)  # a tagged agent reaches VMs some weeks later
#: goal-state agents the ISO-era builders can stand for ([CGI] lines: 2.9+), with their tag dates
#: (agent-logs.md §0; 2.12.0.4 has no date there: placed between its neighbours)
RELEASES = (
    ("2.9.1.1", datetime(2023, 7, 26, tzinfo=UTC)),
    ("2.10.0.8", datetime(2024, 3, 27, tzinfo=UTC)),
    ("2.11.1.12", datetime(2024, 9, 27, tzinfo=UTC)),
    ("2.12.0.4", datetime(2025, 1, 15, tzinfo=UTC)),
    ("2.13.1.1", datetime(2025, 5, 2, tzinfo=UTC)),
    ("2.14.0.1", datetime(2025, 7, 31, tzinfo=UTC)),
    ("2.15.0.1", datetime(2025, 11, 19, tzinfo=UTC)),
)
#: installed daemon packages that write E4 (ISO, thread) lines and the 'Version:' banner (< 2.8)
DAEMONS = ("2.2.53", "2.2.53", "2.2.54.2", "2.4.0.2", "2.7.3.0")
#: outdated agents in the E1 format (2.2.0 - 2.2.26) the agent-outdated builder writes
LEGACY = ("2.2.10", "2.2.13", "2.2.14", "2.2.16", "2.2.18", "2.2.20")
REGIONS = ("westeurope", "northeurope", "germanywestcentral", "eastus", "eastus2", "westus2",
           "uksouth", "francecentral", "swedencentral", "centralus", "southeastasia", "japaneast")
HOST_PREFIX = ("lnx", "vm", "az", "prd", "tst", "dev", "srv", "node")
HOST_ROLE = ("app", "db", "web", "api", "files", "batch", "k8s-node", "erp", "sql", "etl", "jump",
             "cache", "mq", "gw", "build", "mon", "sap", "ftp", "proxy", "worker")

# Literals a builder writes itself (not via Ctx / T): what they stand for, per scenario.
# versions: literal -> role ('gs' goal-state agent, 'next' the newer agent it updates to,
# 'legacy' the outdated agent); dates: literal -> strftime format used to re-write it shifted.
BUILDER_LITERALS = {
    "default": {"versions": {"2.11.1.12": "gs"}, "dates": {}},
    "agent-crash-loop": {"versions": {"2.10.0.8": "gs", "2.11.1.12": "next"},
                         "dates": {"2025-04-02 05:12:40": "%Y-%m-%d %H:%M:%S"}},
    "proxy-misconfigured": {"versions": {"2.10.0.8": "gs", "2.11.1.12": "next"}, "dates": {}},
    "agent-outdated": {"versions": {"2.2.18": "legacy"}, "dates": {}},
    "extension-load-failure": {"versions": {"2.11.1.12": "gs"},
                               "dates": {"2025-02-20T13:05:19Z": "%Y-%m-%dT%H:%M:%SZ"}},
}
INDEX_COLUMNS = ("bundle", "cause", "agent_version", "scenario", "layout", "host", "collected", "other_causes")


@dataclass
class Spec:
    """One bundle of the fleet, fully decided before it is built."""

    index: int
    name: str
    scenario: str
    cause: str
    others: list[str]
    layout: str
    host: str
    ip: str
    region: str
    daemon: str
    shift: timedelta
    collected: datetime
    versions: dict[str, str] = field(default_factory=dict)  # builder literal -> version

    @property
    def agent_version(self) -> str:
        """The goal-state agent the bundle shows (the one that runs at collection time)."""
        lit = BUILDER_LITERALS.get(self.scenario, BUILDER_LITERALS["default"])["versions"]
        role = "legacy" if "legacy" in lit.values() else "gs"
        return next(self.versions[k] for k, r in lit.items() if r == role)

    @property
    def file_name(self) -> str:
        return self.name + {"folder": "", "zip": ".zip", "tar.gz": ".tar.gz"}[self.layout]


# --------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------

def scenarios() -> dict[str, tuple]:
    """name -> (builder, expected top cause, other acceptable causes), from generate.BUNDLES."""
    return {name: (fn, top, list(others)) for name, fn, top, others in G.BUNDLES}


def allocate(count: int, weights: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of ``count`` by weight; every scenario at least once when there is room."""
    names = list(weights)
    total = float(sum(weights.values()))
    alloc = {n: 0 for n in names}
    if count <= 0:
        return alloc
    floor = 1 if count >= len(names) else 0
    rest = count - floor * len(names)
    exact = {n: rest * weights[n] / total for n in names}
    for n in names:
        alloc[n] = floor + int(exact[n])
    left = count - sum(alloc.values())
    for n in sorted(names, key=lambda n: (-(exact[n] - int(exact[n])), -weights[n], n))[:left]:
        alloc[n] += 1
    return alloc


_ORIGINAL_COLLECT: dict[str, datetime] = {}


def original_collect(scenario: str) -> datetime:
    """The collection time the builder uses without a shift (built once per process)."""
    if scenario not in _ORIGINAL_COLLECT:
        _ORIGINAL_COLLECT[scenario] = scenarios()[scenario][0]().collect
    return _ORIGINAL_COLLECT[scenario]


def _weighted(rng: random.Random, items, weights):
    return rng.choices(list(items), weights=list(weights), k=1)[0]


def pick_versions(scenario: str, collected: datetime, rng: random.Random) -> dict[str, str]:
    """Builder version literal -> the version this bundle shows instead."""
    lit = BUILDER_LITERALS.get(scenario, BUILDER_LITERALS["default"])["versions"]
    out: dict[str, str] = {}
    avail = [v for v, day in RELEASES if day + ROLLOUT <= collected] or [RELEASES[0][0]]
    newer = "next" in lit.values()
    if newer and len(avail) < 2:  # an update needs a newer agent: the first two releases
        avail = [RELEASES[0][0], RELEASES[1][0]]
    pool = avail[:-1] if newer else avail  # newest first below
    pool = pool[::-1][:3]
    gs = _weighted(rng, pool, (0.55, 0.3, 0.15)[:len(pool)])
    for literal, role in lit.items():
        if role == "gs":
            out[literal] = gs
        elif role == "next":
            names = [v for v, _d in RELEASES]
            out[literal] = names[names.index(gs) + 1]
        else:
            out[literal] = rng.choice(LEGACY)
    return out


def plan(count: int, seed: int = 0, weights: dict[str, float] | None = None) -> list[Spec]:
    """The fleet's bundles: deterministic for (count, seed, weights)."""
    table = scenarios()
    weights = dict(weights or {n: WEIGHTS.get(n, 1) for n in table})
    unknown = set(weights) - set(table)
    if unknown:
        raise ValueError("unknown scenarios: %s" % ", ".join(sorted(unknown)))
    alloc = allocate(count, weights)
    order = [n for n in weights for _ in range(alloc[n])]
    random.Random("fleet-order:%d" % seed).shuffle(order)
    specs: list[Spec] = []
    hosts: set[str] = set()
    for i, scenario in enumerate(order, 1):
        rng = random.Random("fleet:%d:%d" % (seed, i))
        _fn, top, others = table[scenario]
        lit = BUILDER_LITERALS.get(scenario, BUILDER_LITERALS["default"])["versions"]
        lo = max(FIRST_DAY, RELEASES[1][1] + ROLLOUT) if "next" in lit.values() else FIRST_DAY
        target = lo + timedelta(seconds=int(rng.uniform(0, (LAST_DAY - lo).total_seconds())))
        shift = target - original_collect(scenario)
        collected = original_collect(scenario) + shift
        host = ""
        while not host or host in hosts:
            host = "%s-%s-%02d%d" % (rng.choice(HOST_PREFIX), rng.choice(HOST_ROLE), rng.randrange(100), rng.randrange(10))
        hosts.add(host)
        specs.append(Spec(
            index=i, name="vm%04d-%s" % (i, host), scenario=scenario, cause=top, others=others,
            layout=_weighted(rng, [n for n, _w in LAYOUTS], [w for _n, w in LAYOUTS]),
            host=host, ip="10.%d.%d.%d" % (rng.randrange(1, 250), rng.randrange(0, 250), rng.randrange(4, 250)),
            region=rng.choice(REGIONS), daemon=rng.choice(DAEMONS), shift=shift, collected=collected,
            versions=pick_versions(scenario, collected, rng)))
    return specs


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------

@contextmanager
def _patched(spec: Spec, seed: int):
    """Run a builder with its identity, ids and dates replaced (generate.Ctx and generate.T)."""
    orig_ctx, orig_t = G.Ctx, G.T
    shift = spec.shift

    class FleetCtx(orig_ctx):
        def __init__(self, name: str, **kw) -> None:
            kw.update(host=spec.host, ip=spec.ip, region=spec.region)
            kw.setdefault("daemon", spec.daemon)  # builders that pin a daemon keep it (its era)
            super().__init__("%s#%d#%d" % (name, seed, spec.index), **kw)  # the name seeds the ids
            self.name = name

    G.Ctx = FleetCtx
    G.T = lambda text: orig_t(text) + shift
    try:
        yield
    finally:
        G.Ctx, G.T = orig_ctx, orig_t


def _substitute(files: dict[str, bytes], versions: dict[str, str], plain: dict[str, str]) -> dict[str, bytes]:
    """Replace literals in paths and contents, inside .gz files and history zips too.

    ``versions`` match as whole version numbers (not inside a longer one), ``plain`` anywhere;
    all replacements happen at once (a replaced text is never replaced again).
    """
    if not versions and not plain:
        return files
    alts = [rb"(?<![\d.])%s(?![\d]|\.\d)" % re.escape(k.encode()) for k in sorted(versions, key=len, reverse=True)]
    alts += [re.escape(k.encode()) for k in sorted(plain, key=len, reverse=True)]
    pat = re.compile(b"|".join(alts))
    bmap = {k.encode(): v.encode() for k, v in {**versions, **plain}.items()}

    def sub(data: bytes) -> bytes:
        return pat.sub(lambda m: bmap[m.group(0)], data)

    out: dict[str, bytes] = {}
    for path, data in files.items():
        new_path = sub(path.encode()).decode()
        if path.endswith(".gz"):
            raw = gzip.decompress(data)
            new = sub(raw)
            data = data if new == raw else G.gz(new)
        elif path.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = zf.infolist()
                members = {i.filename: zf.read(i) for i in infos}
            changed = {sub(n.encode()).decode(): sub(d) for n, d in members.items()}
            if changed != members:
                when = datetime(*infos[0].date_time, tzinfo=UTC)
                data = G.make_zip(changed, when, [sub(i.filename.encode()).decode() for i in infos])
        else:
            data = sub(data)
        out[new_path] = data
    return out


def build(spec: Spec, seed: int = 0) -> tuple[dict[str, bytes], datetime]:
    """The files of one bundle (relative path -> bytes) and its collection time."""
    fn = scenarios()[spec.scenario][0]
    with _patched(spec, seed):
        c = fn()
    lit = BUILDER_LITERALS.get(spec.scenario, BUILDER_LITERALS["default"])
    versions = {k: v for k, v in spec.versions.items() if k != v}
    dates = {text: (datetime.strptime(text, fmt).replace(tzinfo=UTC) + spec.shift).strftime(fmt)
             for text, fmt in lit["dates"].items()}
    files = dict(c.files)
    files.pop("results.txt", None)
    c.files = _substitute(files, versions, dates)
    if spec.versions.get("2.2.18"):  # the legacy builder's agent also lives in the Ctx
        c.agent_ver = c.daemon_ver = spec.versions["2.2.18"]
    c.put("results.txt", G.results_txt(c))
    return c.files, c.collect


def write_bundle(out: Path, spec: Spec, files: dict[str, bytes], collect: datetime) -> Path:
    target = out / spec.file_name
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if spec.layout == "folder":
        for rel, data in sorted(files.items()):
            p = target / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    elif spec.layout == "zip":
        target.write_bytes(G.make_zip(files, collect, G.collector_order(list(files))))
    else:
        target.write_bytes(G.make_targz(files, spec.name, collect))
    return target


def index_tsv(specs: list[Spec]) -> str:
    rows = ["\t".join(INDEX_COLUMNS)]
    for s in specs:
        rows.append("\t".join([s.file_name, s.cause, s.agent_version, s.scenario, s.layout, s.host,
                               s.collected.strftime("%Y-%m-%dT%H:%M:%SZ"), ",".join(s.others)]))
    return "\n".join(rows) + "\n"


def read_index(out: Path) -> list[dict[str, str]]:
    """The rows of OUT_DIR/index.tsv as dicts (columns :data:`INDEX_COLUMNS`)."""
    lines = (Path(out) / "index.tsv").read_text(encoding="ascii").splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:] if ln]


_ISO_FIRST = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.\d{6}Z ")
_SLASH_FIRST = re.compile(rb"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})\.\d{6} ")
_VERSION_IN = re.compile(rb"WALinuxAgent-(\d+(?:\.\d+)+)")


def pad_log(log: bytes, lines: int, rng: random.Random) -> bytes:
    """``lines`` lines of the healthy chatter an agent writes for days, before the log's first line.

    Real bundles carry megabytes of waagent.log; the scenario logs are a few hundred lines. Padding
    makes a fleet realistic in size for benchmarks without changing what it shows: only goal-state
    processing and heartbeat templates (agent-logs.md §1.10, §2.1, §2.6.1), in the era of the log.
    """
    if lines <= 0:
        return log
    m_iso, m_slash = _ISO_FIRST.match(log), _SLASH_FIRST.match(log)
    if not (m_iso or m_slash):
        return log
    ver = _VERSION_IN.search(log)
    version = ver.group(1).decode() if ver else "2.11.1.12"
    first = (datetime.strptime(m_iso.group(1).decode(), "%Y-%m-%dT%H:%M:%S") if m_iso
             else datetime.strptime(m_slash.group(1).decode(), "%Y/%m/%d %H:%M:%S"))
    ext = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0"
    cycle = 6  # lines per goal-state cycle below
    t = first - timedelta(seconds=(lines // cycle + 1) * 90)
    out: list[str] = []
    inc, beat = 1, 1
    while len(out) < lines:
        t += timedelta(seconds=60 + rng.randrange(60))
        stamps = [(t + timedelta(milliseconds=120 * i + rng.randrange(100))) for i in range(cycle)]
        guid = "%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                rng.getrandbits(12), rng.getrandbits(48))
        if m_iso:
            ts = [x.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z" for x in stamps]
            gs = f"incarnation_{inc}"
            out += [
                f"{ts[0]} INFO ExtHandler ExtHandler ProcessExtensionsGoalState started [{gs} channel: WireServer "
                f"source: Fabric activity: {guid} correlation {guid} created: {ts[0]}]",
                f"{ts[1]} INFO ExtHandler [{ext}] Target handler state: enabled [{gs}]",
                f"{ts[2]} INFO ExtHandler [{ext}] [Enable] current handler state is: enabled",
                f"{ts[3]} INFO ExtHandler ExtHandler ProcessExtensionsGoalState completed [{gs} {300 + rng.randrange(400)} ms]",
                f"{ts[4]} INFO ExtHandler ExtHandler Extension status: [('Microsoft.Azure.RecoveryServices.VMSnapshotLinux', 'success')]",
                f"{ts[5]} INFO ExtHandler ExtHandler [HEARTBEAT] Agent WALinuxAgent-{version} is running as the goal "
                f"state agent [DEBUG HeartbeatCounter: {beat};HeartbeatId: {guid.upper()};DroppedPackets: 0;"
                f"UpdateGSErrors: 0;AutoUpdate: 1]",
            ]
        else:
            ts = [x.strftime("%Y/%m/%d %H:%M:%S.%f") for x in stamps]
            out += [
                f"{ts[0]} INFO Handle extensions updates for incarnation {inc}",
                f"{ts[1]} INFO [{ext}] Target handler state: enabled",
                f"{ts[2]} INFO [{ext}] [Enable] current handler state is: enabled",
                f"{ts[3]} INFO ProcessGoalState completed [incarnation {inc}; {300 + rng.randrange(400)} ms]",
                f"{ts[4]} INFO Event: name=WALinuxAgent, op=HeartBeat, message=, duration=0",
                f"{ts[5]} INFO Agent WALinuxAgent-{version} is running as the goal state agent",
            ]
        inc += 1 if rng.random() < 0.05 else 0
        beat += 1
    return ("\n".join(out[:lines]) + "\n").encode("ascii") + log


def generate_fleet(out: str | Path, count: int, seed: int = 0,
                   weights: dict[str, float] | None = None, pad_lines: int = 0) -> list[Spec]:
    """Write ``count`` bundles and index.tsv into ``out``; returns their specs.

    Bundles an earlier run listed in ``out/index.tsv`` are removed first (nothing else is).
    ``pad_lines`` adds that many lines of healthy chatter to each waagent.log (realistic sizes).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "index.tsv").exists():
        for row in read_index(out):
            old = out / Path(row["bundle"]).name
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
    specs = plan(count, seed, weights)
    for i, spec in enumerate(specs):
        files, collect = build(spec, seed)
        if pad_lines and "var/log/waagent.log" in files:
            files["var/log/waagent.log"] = pad_log(files["var/log/waagent.log"], pad_lines,
                                                   random.Random(seed * 100003 + i))
        write_bundle(out, spec, files, collect)
    (out / "index.tsv").write_bytes(index_tsv(specs).encode("ascii"))
    return specs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="output folder (created; bundles of an earlier run there are replaced)")
    ap.add_argument("--count", type=int, default=30, help="number of bundles (default 30)")
    ap.add_argument("--seed", type=int, default=0, help="seed (default 0); the same seed writes the same bytes")
    ap.add_argument("--pad-lines", type=int, default=0,
                    help="add this many lines of healthy agent chatter to each waagent.log (realistic sizes)")
    args = ap.parse_args(argv)
    if args.count < 0:
        ap.error("--count must be >= 0")
    t0 = time.perf_counter()
    specs = generate_fleet(args.out, args.count, args.seed, pad_lines=args.pad_lines)
    by = {}
    for s in specs:
        by[s.scenario] = by.get(s.scenario, 0) + 1
    print("%d bundles in %s (%.1f s): %s" % (len(specs), args.out, time.perf_counter() - t0,
                                             ", ".join("%s %d" % kv for kv in sorted(by.items(), key=lambda kv: -kv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
