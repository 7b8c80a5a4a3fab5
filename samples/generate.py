#!/usr/bin/env python3
"""Generate the project's own sample log bundles (stdlib only, deterministic).

Every log line below is built from the message TEMPLATES (format strings) documented in
``shared/reference/agent-logs.md`` and ``shared/reference/backup-extension.md``, filled
with invented values (host names, GUIDs, times, versions). Nothing is pasted from real
logs or fixture files. Seeds and dates are fixed, archives carry fixed mtimes, so two runs
produce identical bytes.

Usage::

    python samples/generate.py            # (re)writes the samples next to this script
    python samples/generate.py --out DIR  # writes them somewhere else (tests use this)
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import shutil
import sys
import tarfile
import zipfile
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
WIRE = "168.63.129.16"
SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
SNAP_P = "[%s-1.0]" % SNAP  # HandlerEnvironment schema version, not the package version
SNAP_LOGDIR = "var/log/azure/" + SNAP
ZIP_SAMPLE = "no-internet-access"
TAR_SAMPLE = "agent-crash-loop"
TAR_LEAD = "bundle-4711"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FAKE_SIG = "FAKESIGNATURE0000000000000000000000000000000%3D"


def T(text: str) -> datetime:
    """'2024-10-01T05:10:00' -> aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def ticks(ts: datetime) -> int:
    """.NET ticks (100 ns since 0001-01-01), as CRP writes commandStartTimeUTCTicks."""
    return (int(ts.timestamp()) + 62135596800) * 10_000_000 + ts.microsecond * 10


def iso_z(ts: datetime) -> str:
    return "%s.%06dZ" % (ts.strftime("%Y-%m-%dT%H:%M:%S"), ts.microsecond)


def iso_s(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def pystr(ts: datetime) -> str:
    """str(naive datetime): the fraction is omitted when microsecond == 0."""
    base = ts.strftime("%Y-%m-%d %H:%M:%S")
    return base if ts.microsecond == 0 else "%s.%06d" % (base, ts.microsecond)


def date_u(ts: datetime) -> str:
    """`date -u` in the C locale: 'Sun Jan 14 22:10:05 UTC 2024' (day space-padded)."""
    return "%s %s %2d %s UTC %d" % (DAYS[ts.weekday()], MONTHS[ts.month - 1], ts.day,
                                     ts.strftime("%H:%M:%S"), ts.year)


def ls_date(ts: datetime) -> str:
    return "%s %2d %s" % (MONTHS[ts.month - 1], ts.day, ts.strftime("%H:%M"))


class Rng(random.Random):
    """random.Random with a few id helpers (all derived from the seeded stream)."""

    def guid(self) -> str:
        return "%08x-%04x-%04x-%04x-%012x" % (
            self.getrandbits(32), self.getrandbits(16), 0x4000 | self.getrandbits(12),
            0x8000 | self.getrandbits(14), self.getrandbits(48))

    def hexs(self, n: int, upper: bool = False) -> str:
        s = "".join(self.choice("0123456789abcdef") for _ in range(n))
        return s.upper() if upper else s

    def digits(self, n: int) -> str:
        return str(self.randrange(1, 10)) + "".join(str(self.randrange(10)) for _ in range(n - 1))

    def b64(self, n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return "".join(self.choice(alphabet) for _ in range(n))


class LogFile:
    """Lines with timestamps; rendered in time order (stable for equal stamps)."""

    def __init__(self) -> None:
        self.items: list[tuple[datetime, int, str]] = []

    def add(self, ts: datetime, text: str) -> None:
        self.items.append((ts, len(self.items), text))

    def last_ts(self) -> datetime:
        return max(i[0] for i in self.items)

    def render(self, lo: datetime | None = None, hi: datetime | None = None) -> str:
        rows = sorted(self.items)
        out = [r[2] for r in rows if (lo is None or r[0] >= lo) and (hi is None or r[0] < hi)]
        return "".join(line + "\n" for line in out)


# --------------------------------------------------------------------------------------
# Per-bundle context
# --------------------------------------------------------------------------------------

class Ctx:
    """Identity of one invented VM plus the files of its bundle."""

    def __init__(self, name: str, **kw) -> None:
        self.name = name
        self.rng = Rng(zlib.crc32(name.encode()))
        self.files: dict[str, bytes] = {}
        self.host = kw["host"]
        self.os_id, self.os_ver, self.distro = kw["os"]          # ('ubuntu', '20.04', 'Ubuntu')
        self.pretty = kw["pretty"]
        self.py = kw.get("py", "3.8.10")                            # agent interpreter
        self.daemon_ver = kw.get("daemon", "2.2.53")
        self.agent_ver = kw.get("agent", "2.11.1.12")
        self.snap_ver = kw.get("snap", "1.0.9225.0")
        self.region = kw.get("region", "westeurope")
        self.osutil = kw.get("osutil", "Ubuntu18OSUtil")
        self.service = kw.get("service", "walinuxagent")
        self.systemd = kw.get("systemd", "systemd 245 (245.4-4ubuntu3.24)")
        self.logrotate = kw.get("logrotate", "logrotate 3.14.0")
        self.openssl = kw.get("openssl", "OpenSSL 1.1.1f  31 Mar 2020")
        self.leases = kw.get("leases", "var/lib/dhcp/dhclient.eth0.leases")
        self.ip = kw.get("ip", "10.1.0.4")
        self.collect = kw["collect"]
        r = self.rng
        self.vm_id = r.guid()
        self.container_id = r.guid()
        self.role_instance = "%s._%s" % (r.guid(), self.host)
        self.deployment = r.hexs(32)
        self.thumb = r.hexs(40, upper=True)
        self.subscription = r.guid()
        self.machine_id = r.guid()
        self.disk_acct = "md-%s" % r.hexs(12)
        self.pir = "zrdfepirv2%s%02dprdstr0%da" % (r.choice(["am5", "db5", "ams2", "cbn"]), r.randrange(1, 30), r.randrange(1, 5))
        self.pir_path = r.hexs(32)
        self.pid_ext = r.randrange(900, 1900)
        self.hb = 0

    # file helpers
    def put(self, path: str, data: str | bytes) -> None:
        self.files[path] = data.encode("ascii") if isinstance(data, str) else data

    def put_json(self, path: str, obj, indent: int | None = None) -> None:
        self.put(path, json.dumps(obj, indent=indent) + ("\n" if indent else ""))

    @property
    def snap_dir(self) -> str:
        return "/var/lib/waagent/%s-%s" % (SNAP, self.snap_ver)

    def sas(self, host: str, path: str, perm: str = "r", sk: bool = True) -> str:
        extra = "&sk=system-1" if sk else ""
        return "https://%s/%s?sv=2018-03-28&sr=b%s&sig=%s&se=9999-01-01T00%%3a00%%3a00Z&sp=%s" % (
            host, path, extra, FAKE_SIG, perm)


# --------------------------------------------------------------------------------------
# The agent's log writer (waagent.log + per-extension CommandExecution.log)
# --------------------------------------------------------------------------------------

class Agent:
    """Writes agent records in the era of each process.

    daemon_era / ext_era: 'E4' (ISO UTC, thread + prefix), 'E2' (local, prefix only),
    'E1' (local, no prefix). Local time is UTC on these invented VMs.
    """

    def __init__(self, ctx: Ctx, log: LogFile, t: datetime, daemon_era: str = "E4",
                 ext_era: str = "E4") -> None:
        self.ctx, self.log, self.t = ctx, log, t
        self.daemon_era, self.ext_era = daemon_era, ext_era
        self.cmdlogs: dict[str, LogFile] = getattr(log, "cmdlogs", {})
        log.cmdlogs = self.cmdlogs  # type: ignore[attr-defined]

    def fork(self, t: datetime) -> "Agent":
        a = Agent.__new__(Agent)
        a.__dict__.update(self.__dict__)
        a.t = t
        return a

    def at(self, t: datetime) -> "Agent":
        self.t = t
        return self

    def tick(self, lo: float = 0.0004, hi: float = 0.03) -> datetime:
        self.t += timedelta(microseconds=int(self.ctx.rng.uniform(lo, hi) * 1e6))
        return self.t

    def wait(self, seconds: float) -> "Agent":
        self.t += timedelta(seconds=seconds)
        return self

    def _fmt(self, era: str, level: str, thread: str | None, prefix: str | None, msg: str) -> str:
        ts = self.tick()
        if era == "E4":
            head = "%s %s %s" % (iso_z(ts), level, thread)
            return "%s %s %s" % (head, prefix, msg) if prefix else "%s %s" % (head, msg)
        stamp = "%s.%06d" % (ts.strftime("%Y/%m/%d %H:%M:%S"), ts.microsecond)
        if era == "E2":
            return "%s %s %s %s" % (stamp, level, prefix, msg)
        return "%s %s %s%s" % (stamp, level, (prefix + " ") if prefix and prefix.startswith("[") else "", msg)

    def _add(self, text: str) -> None:
        self.log.add(self.t, text)

    def d(self, msg: str, level: str = "INFO") -> None:
        """Daemon process."""
        self._add(self._fmt(self.daemon_era, level, "Daemon", "Daemon", msg))

    def x(self, msg: str, level: str = "INFO", thread: str = "ExtHandler") -> None:
        """ExtHandler process (thread name only matters in E4)."""
        self._add(self._fmt(self.ext_era, level, thread, "ExtHandler", msg))

    def g(self, msg: str, level: str = "INFO") -> None:
        """GoalState logger (2.8+): thread name, no prefix."""
        self._add(self._fmt("E4", level, "ExtHandler", None, msg))

    def e(self, handler: str, msg: str, level: str = "INFO") -> None:
        """Per-extension logger; also copied to CommandExecution.log (E4 agents)."""
        prefix = "[%s]" % handler
        line = self._fmt(self.ext_era, level, "ExtHandler", prefix, msg)
        self._add(line)
        if self.ext_era == "E4":
            name = handler.rsplit("-", 1)[0]
            self.cmdlogs.setdefault(name, LogFile()).add(self.t, line)

    def lc(self, msg: str) -> None:
        self._add(self._fmt("E4", "INFO", "MainThread", "LogCollector", msg))

    def event(self, name: str, op: str, message: str, proc: str = "x", thread: str = "ExtHandler") -> None:
        text = "Event: name=%s, op=%s, message=%s, duration=0" % (name, op, message)
        if proc == "d":
            self.d(text, "ERROR")
        else:
            self.x(text, "ERROR", thread)


# --------------------------------------------------------------------------------------
# Agent building blocks (ISO-era 2.8+ ExtHandler, 2.2.x daemon)
# --------------------------------------------------------------------------------------

def ver_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def daemon_start(A: Agent, inc: int, child: str | None = None) -> None:
    c = A.ctx
    v = c.daemon_ver
    old = ver_tuple(v) < (2, 2, 46)
    A.d("Azure Linux Agent Version:%s" % v if ver_tuple(v) < (2, 8) else "Azure Linux Agent Version: %s" % v)
    A.d("OS: %s %s" % (c.os_id, c.os_ver))
    A.d("Python: %s" % c.py)
    A.d("Run daemon")
    A.d("No RDMA handler exists for distro='%s' version='%s'" % (c.distro, c.os_ver))
    A.d("Clean protocol" if old else "Clean protocol and wireserver endpoint")
    A.d("Detect protocol endpoints" if old else "Detect protocol endpoint")
    A.d("Test for route to %s" % WIRE)
    A.d("Route to %s exists" % WIRE)
    A.d("Wire server endpoint:%s" % WIRE)
    A.d("Fabric preferred wire protocol version:2015-04-05")
    A.d("Wire protocol version:2012-11-30")
    A.d("Server preferred version:2015-04-05")
    if not old:
        A.d("Initializing goal state during protocol detection")
        A.d("Fetching new goal state [incarnation %d (force update)]" % inc)
    A.tick(0.2, 0.6)
    A.d("Found private key matching thumbprint %s" % c.thumb)
    if not old:
        A.d("Fetch goal state completed")
    A.d("Provisioning already completed, skipping.")
    A.d("RDMA capabilities are not enabled, skipping")
    A.tick(0.5, 1.5)
    A.d("Determined Agent WALinuxAgent-%s to be the latest agent" % (child or c.agent_ver))


def exthandler_start(A: Agent, inc: int, pid: int, cgroups: bool = True, first_boot: bool = True,
                     extensions_enabled: bool = True, period: int = 6) -> None:
    c = A.ctx
    r = c.rng
    A.tick(0.8, 2.0)
    A.x("Azure Linux Agent (Goal State Agent version %s)" % c.agent_ver)
    A.x("OS: %s %s" % (c.os_id, c.os_ver))
    A.x("Python: %s" % c.py)
    A.x("CPU Arch: x86_64")
    A.x("Distro: %s-%s; OSUtil: %s; AgentService: %s; Python: %s; Arch: x86_64; systemd: True; "
        "systemd_version: %s; LISDrivers: Absent; logrotate: %s;"
        % (c.os_id, c.os_ver, c.osutil, c.service, c.py, c.systemd, c.logrotate))
    A.x("OpenSSL version: %s" % c.openssl)
    A.x("WireServer endpoint %s read from file" % WIRE)
    A.x("Wire server endpoint:%s" % WIRE)
    if not extensions_enabled:
        A.x("******** Extensions.Enabled is set to False, not processing the operation ********")
    A.g("Fetched a new incarnation for the WireServer goal state [incarnation %d]" % inc)
    A.g("")
    A.g("Fetched new vmSettings [HostGAPlugin correlation ID: %s eTag: %s source: Fabric]" % (r.guid(), r.digits(19)))
    A.g("The vmSettings originated via Fabric; will ignore them.")
    A.g("")
    A.g("Fetching full goal state from the WireServer [incarnation %d]" % inc)
    A.tick(0.1, 0.3)
    A.g("Downloaded certificate {'thumbprint': '%s', 'hasPrivateKey': True}" % c.thumb)
    A.g("Fetch goal state completed")
    A.x("WALinuxAgent-%s running as process %d" % (c.agent_ver, pid))
    if cgroups:
        A.x("[CGI] systemd version: %s" % c.systemd.split(" ")[1])
        A.x("[CGI] Agent cgroups enabled: True")
        A.x("Started tracking cpu cgroup /sys/fs/cgroup/cpu,cpuacct/azure.slice/walinuxagent.service")
        A.x("Started tracking memory cgroup /sys/fs/cgroup/memory/azure.slice/walinuxagent.service")
    else:
        A.x("[CGI] Agent cgroups enabled: False")
    A.x("Starting setup for Persistent firewall rules")
    A.x("Firewalld service not running/unavailable, trying to set up waagent-network-setup.service")
    A.x("Service: waagent-network-setup.service already enabled. No change needed.")
    if first_boot:
        A.x("DROP rule is not available which implies no firewall rules are set yet. Environment thread will set it up.")
    else:
        A.x("Firewall rule to allow DNS TCP request to wireserver for a non root user unavailable. Setting it now.")
        A.x("Succesfully added firewall rule to allow non root users to do a DNS TCP request to wireserver")
    A.x("Checking if log collection is allowed at this time [%s]. All three conditions must be met: "
        "1. configuration enabled [True], 2. cgroups v1 enabled [%s] OR cgroups v2 is in use and v2 "
        "resource limiting configuration enabled [False], 3. python supported: [True]"
        % (cgroups, cgroups), thread="CollectLogsHandler")
    A.x("Goal State Period: %d sec. This indicates how often the agent checks for new goal states and reports status." % period)
    if first_boot:
        pk = r.randrange(3, 40)
        A.x("Successfully added Azure fabric firewall rules. Current Firewall rules:\n"
            "Chain OUTPUT (policy ACCEPT %d packets, %d bytes)\n"
            "    pkts      bytes target     prot opt in     out     source               destination\n"
            "       0        0 ACCEPT     tcp  --  *      *       0.0.0.0/0            %s        tcp dpt:53\n"
            "      %2d     %4d ACCEPT     tcp  --  *      *       0.0.0.0/0            %s        owner UID match 0\n"
            "       0        0 DROP       tcp  --  *      *       0.0.0.0/0            %s        ctstate INVALID,NEW"
            % (r.randrange(100, 900), r.randrange(20000, 90000), WIRE, pk, pk * 74, WIRE, WIRE),
            thread="EnvHandler")


def heartbeats(A: Agent, t0: datetime, t1: datetime, version: str | None = None) -> None:
    """[HEARTBEAT] every 30 minutes while the ExtHandler runs (2.2.49-2.11 form)."""
    c = A.ctx
    c.hb = 0  # the counter belongs to one ExtHandler process
    t = t0 + timedelta(minutes=30)
    while t < t1:
        B = A.fork(t + timedelta(seconds=c.rng.uniform(0, 2)))
        c.hb += 1
        B.x("[HEARTBEAT] Agent WALinuxAgent-%s is running as the goal state agent [DEBUG HeartbeatCounter: %d;"
            "HeartbeatId: %s;DroppedPackets: 0;UpdateGSErrors: 0;AutoUpdate: 1]"
            % (version or c.agent_ver, c.hb, c.rng.guid().upper()))
        t += timedelta(minutes=30)


def dhcp_not_running(A: Agent, times: list[datetime]) -> None:
    for t in times:
        A.fork(t).x("Dhcp client is not running.", "WARNING", thread="EnvHandler")


def gs_started(A: Agent, inc: int, created: datetime) -> None:
    r = A.ctx.rng
    A.x("")
    A.x("ProcessExtensionsGoalState started [incarnation_%d channel: WireServer source: Fabric activity: %s "
        "correlation %s created: %s]" % (inc, r.guid(), r.guid(), iso_z(created)))


def gs_completed(A: Agent, inc: int, ms: int) -> None:
    A.x("ProcessExtensionsGoalState completed [incarnation_%d %d ms]\n" % (inc, ms))


def new_goal_state(A: Agent, inc: int) -> None:
    A.g("Fetched a new incarnation for the WireServer goal state [incarnation %d]" % inc)
    A.g("")
    A.g("Fetching full goal state from the WireServer [incarnation %d]" % inc)
    A.tick(0.05, 0.2)
    A.g("Fetch goal state completed")


def snap_env(c: Ctx, seq: int, ver: str | None = None) -> str:
    ver = ver or c.snap_ver
    return json.dumps({
        "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE": "NOT_RUN",
        "AZURE_GUEST_AGENT_EXTENSION_PATH": "/var/lib/waagent/%s-%s" % (SNAP, ver),
        "AZURE_GUEST_AGENT_EXTENSION_VERSION": ver,
        "AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS": WIRE,
        "ConfigSequenceNumber": str(seq)})


def agent_run_cmd(A: Agent, handler_ver: str, op: str, seq: int, seconds: float, out: str = "",
                  rc: int | None = None) -> datetime:
    """Install/Enable/... extension: [...] then Executing command + systemd scope + Command."""
    c = A.ctx
    H = "%s-%s" % (SNAP, handler_ver)
    path = "/var/lib/waagent/%s/main/handle.sh %s" % (H, op)
    A.e(H, "%s extension: [main/handle.sh %s]" % (op.capitalize(), op) if op in ("enable", "disable")
        else "%s extension [main/handle.sh %s]" % (op.capitalize(), op))
    A.e(H, "Executing command: %s with environment variables: %s" % (path, snap_env(c, seq, handler_ver)))
    A.e(H, "Started extension in unit '%s_%s.scope'" % (op, c.rng.guid()))
    started = A.t
    A.wait(seconds)
    if rc is None:
        A.e(H, "Command: %s\n[stdout]\n%s[stderr]" % (path, out))
    return started


def snap_enable(A: Agent, inc: int, seq: int, created: datetime, state: str = "enabled") -> datetime:
    c = A.ctx
    H = "%s-%s" % (SNAP, c.snap_ver)
    start = A.t
    gs_started(A, inc, created)
    A.e(H, "Target handler state: enabled [incarnation_%d]" % inc)
    A.e(H, "[Enable] current handler state is: %s" % state)
    A.e(H, "Update settings file: %d.settings" % seq)
    started = agent_run_cmd(A, c.snap_ver, "enable", seq, c.rng.uniform(2.5, 4.5))
    gs_completed(A, inc, int((A.t - start).total_seconds() * 1000) + 12)
    A.x("Extension status: [('%s', 'transitioning')]" % SNAP)
    return started


# --------------------------------------------------------------------------------------
# VMSnapshotLinux extension.log / shell.log writers (backup-extension.md §1.3 formats)
# --------------------------------------------------------------------------------------

class ExtLog:
    """extension.log: Format A (python 3, UTC, no level) or Format B (python 2, local)."""

    def __init__(self, ctx: Ctx, py: int = 3) -> None:
        self.ctx, self.py = ctx, py
        self.log = LogFile()
        self.shell = LogFile()
        self.t = ctx.collect

    def at(self, t: datetime) -> "ExtLog":
        self.t = t
        return self

    def tick(self, lo: float = 0.0002, hi: float = 0.01) -> datetime:
        self.t += timedelta(microseconds=int(self.ctx.rng.uniform(lo, hi) * 1e6))
        return self.t

    def wait(self, seconds: float) -> "ExtLog":
        self.t += timedelta(seconds=seconds)
        return self

    def a(self, msg: str, ts: datetime | None = None) -> None:
        ts = ts or self.tick()
        if self.py == 3:
            self.log.add(ts, pystr(ts) + " " + SNAP_P + msg)
        else:
            stamp = ts.strftime("%Y/%m/%d %H:%M:%S ")
            lines = msg.split("\n")
            text = "\n".join([stamp + SNAP_P + lines[0]] + [stamp + ln for ln in lines[1:]])
            self.log.add(ts, text)

    def dline(self, level: str, msg: str) -> str:
        ts = self.tick(0.0005, 0.02)
        if self.py == 3:
            return "%s.%06d  %s  %s " % (ts.strftime("%Y/%m/%d %H:%M:%S"), ts.microsecond, level, msg)
        return "%s  %s  %s " % (pystr(ts), level, msg)

    def sh(self, msg: str, ts: datetime | None = None) -> None:
        ts = ts or self.t
        self.shell.add(ts, "%s- %s" % (date_u(ts), msg))


def ext_preamble(X: ExtLog, seq: int, task: str) -> None:
    c = X.ctx
    X.sh("ConfigSequenceNumber from environment variable seqNo:%d" % seq)
    X.sh("python3 path exists" if X.py == 3 else "python2 path exists")
    X.a("Change log file to /var/log/azure/%s/extension.log" % SNAP)
    X.a("sequence number from environment variable is %d" % seq)
    X.a("setting file path is%s/config/%d.settings" % (c.snap_dir, seq))
    X.a("starting enable")
    X.a("taskId: %s" % task)
    ms = c.rng.randrange(1500, 4000)
    X.a("Sleeping for milliseconds: %d" % ms)
    X.wait(ms / 1000.0)
    X.a("Enable,success,4,Transitioning state in extension,False")
    X.sh("0 returned from handle.py")
    X.wait(c.rng.uniform(0.4, 1.0))
    X.a("starting daemon initially")


def ext_daemon_checks(X: ExtLog) -> None:
    c = X.ctx
    X.a("safeFreezeBinary exists True")
    X.a("final thread timeout60")
    X.a("The command snapshot is being validated")
    X.wait(c.rng.uniform(0.3, 0.9))
    X.a("Plugin host file does not exist in the location /etc/azure/VMSnapshotScriptPluginConfig.json")
    X.a("Triggering File System Consistent Backup because of error code StatusCode.FailedPrepostPluginConfigNotFound,")


def ext_freeze_begin(X: ExtLog, mounts: list[str]) -> None:
    c = X.ctx
    X.a("T:S freeze, timeout value 60")
    for m in mounts:
        X.a("fsfreeze mount :%s" % m)
    X.a("skip freeze is : False")
    X.a("arg : [%s]" % ", ".join(["'%s/main/safefreeze/bin/safefreeze'" % c.snap_dir, "'60'"]
                                 + ["'%s'" % m for m in mounts]))
    X.a("proceeded for accepting signals")


def ext_binary_output(X: ExtLog, lines: list[tuple[datetime, str]]) -> None:
    X.a("============== Binary output traces start ================= ")
    for ts, msg in lines:
        X.a("%s %s" % (ts.strftime("%Y-%m-%d %H:%M:%S"), msg))
    X.a("============== Binary output traces end ================= ")


def ext_success(X: ExtLog, seq: int, task: str, mounts: list[str], disks: int = 2,
                host: bool = True) -> dict:
    """Happy path: host snapshot inside a freeze window. Returns status parameters."""
    c = X.ctx
    r = c.rng
    start = X.t
    ext_preamble(X, seq, task)
    ext_daemon_checks(X)
    X.wait(r.uniform(2.5, 4.0))
    X.a("PreSnapshot: Status Code: 200")
    X.a("Taking Snapshot through Host")
    ext_freeze_begin(X, mounts)
    fz = X.t
    buf = ["================== Logs during Freeze Start =============="]
    buf.append(X.dline("Info", "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile file opened Sucessfully"))
    buf.append(X.dline("Info", "Aquiring lock succeeded"))
    X.wait(r.uniform(2.0, 3.0))
    bin_start = X.t
    buf.append(X.dline("Info", "****** 1. Starting Freeze Binary"))
    X.wait(r.uniform(0.6, 1.2))
    buf.append(X.dline("Info", "****** 4. Freeze Completed (Signal=1 received)"))
    buf.append(X.dline("Info", "****** 5. Snaphotting (Host) Started"))
    X.wait(r.uniform(1.5, 3.5))
    buf.append(X.dline("Info", "****** 6. Snaphotting (Host) Completed"))
    buf.append(X.dline("Info", "****** 7. Sending Thaw Signal to Binary"))
    thaw = X.t
    buf.append("================== Logs during Freeze End ==============")
    X.a("\n".join(buf))
    blines = [(bin_start, "****** 2. Binary Freeze Started")]
    blines += [(bin_start, "Freezing: %s" % m) for m in mounts]
    blines.append((thaw, "****** 8. Binary Thaw Signal Received"))
    blines += [(thaw, "Thawing: %s" % m) for m in mounts]
    ext_binary_output(X, blines)
    X.a("T:S thaw result ")
    snaps = []
    for i in range(disks):
        blob = "https://%s.z%d.blob.storage.azure.net/%s/abcd%d" % (c.disk_acct, 10 + i, r.hexs(12), i)
        uri = "%s?snapshot=%s.%07dZ" % (blob.replace(".net/", ".net:443/", 1), (thaw - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S"), r.randrange(10**7))
        X.a("From Host- IsSuccessful:true, SnapshotUri:%s, ErrorMessage:, StatusCode:200" % uri)
        snaps.append({"isSuccessful": True, "snapshotUri": uri, "errorMessage": "", "blobUri": blob,
                      "directDriveSnapshotIdentifier": None})
    X.wait(r.uniform(0.8, 1.8))
    X.a("Enable,success,1,,False")
    end = X.t
    tele = [("success", "extErrorCode"), ("backupHostService", "snapshotCreator"),
            ("200", "hostStatusCodePreSnapshot"), ("200", "hostStatusCodeDoSnapshot"),
            ("%.2f" % (thaw - fz).total_seconds(), "FreezeTime"), ("0.03", "ThawTime"),
            ("%.2f" % (end - start).total_seconds(), "snapshotTimeTaken")]
    return dict(ts=end, code="1", inner="success", msgstr="snapshotCreator=backupHostService, hostStatusCodePreSnapshot=200, hostStatusCodeDoSnapshot=200, ",
                tele=tele, snaps=snaps, health=(0, 1), consistency=1, task=task, start=start)


def status_json(c: Ctx, p: dict, seq: int, cmd_start: datetime) -> str:
    """VMSnapshotLinux status/<seq>.status with the ARM quirk (backup-extension.md §1.5)."""
    tele = None if p.get("tele") is None else [{"Value": v, "Key": k} for v, k in p["tele"] + [
        (c.agent_ver, "guestAgentVersion"), (c.snap_ver, "extensionVersion"),
        ("%s-%s" % (c.os_id, c.os_ver), "osVersion"), ("3.8.10" if c.os_ver == "20.04" else c.py, "pythonVersion")]]
    fm = json.dumps({"messageStr": p["msgstr"], "snapshotConsistency": p["consistency"], "jobMessage": "",
                     "isSizeComputationFailed": False})
    storage = {"partitionCount": 3, "totalUsedSizeInBytes": 31138512896 + seq * 104857600,
               "isStoragespacePresent": False, "isSizeComputationFailed": False}
    ms = int(p["ts"].timestamp()) * 1000
    inner = [{"version": "1.0", "timestampUTC": "/Date(%d)/" % ms, "status": {
        "name": SNAP, "operation": "Enable", "status": p["inner"], "substatus": [], "code": p["code"],
        "taskId": p["task"], "formattedMessage": {"lang": "en-US", "message": fm}, "storageDetails": storage,
        "commandStartTimeUTCTicks": str(ticks(cmd_start)), "telemetryData": tele,
        "uniqueMachineId": c.machine_id, "snapshotInfo": p.get("snaps"),
        "vmHealthInfo": {"vmHealthState": p["health"][0], "vmHealthStatusCode": p["health"][1]}}}]
    inner_text = json.dumps(inner).replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"')
    outer = [{"version": "1.0", "timestampUTC": iso_s(p["ts"]), "status": {
        "name": SNAP, "operation": "Enable", "status": "success",
        "substatus": [{"code": "0", "name": inner_text, "status": "success", "formattedMessage": None}],
        "code": p["code"], "taskId": p["task"], "formattedMessage": {"lang": "en-US", "message": fm},
        "storageDetails": storage, "commandStartTimeUTCTicks": str(ticks(cmd_start)), "telemetryData": None,
        "uniqueMachineId": c.machine_id, "snapshotInfo": None, "vmHealthInfo": None}}]
    return json.dumps(outer)


def settings_json(c: Ctx, seq: int, task: str, cmd_start: datetime) -> str:
    """config/<seq>.settings; protectedSettings is an obviously FAKE blob (redaction tests)."""
    public = {"locale": "en-us", "taskId": task, "commandToExecute": "snapshot",
              "commandStartTimeUTCTicks": str(ticks(cmd_start)), "vmType": "microsoft.compute/virtualmachines",
              "objectStr": c.rng.b64(48),
              "logsBlobUri": c.sas("%s.blob.core.windows.net" % c.disk_acct.replace("md-", "bkp"), "vmbackup-logs/%s.log" % task, "rw", sk=False),
              "statusBlobUri": c.sas("%s.blob.core.windows.net" % c.disk_acct.replace("md-", "bkp"), "vmbackup-status/%s.status" % task, "rw", sk=False)}
    hs = {"protectedSettingsCertThumbprint": c.thumb,
          "protectedSettings": "MIIB" + c.rng.b64(60) + "FAKE" + c.rng.b64(24) + "==",
          "publicSettings": public}
    return json.dumps({"runtimeSettings": [{"handlerSettings": hs}]})


def handler_files(c: Ctx, ver: str, seq: int, task: str, cmd_start: datetime, status: str | None,
                  state: str = "Enabled", hstatus: dict | None = None) -> None:
    base = "var/lib/waagent/%s-%s" % (SNAP, ver)
    c.put_json(base + "/HandlerManifest.json", [{
        "name": "VMSnapshotLinux", "version": 1.0, "handlerManifest": {
            "installCommand": "main/handle.sh install", "uninstallCommand": "main/handle.sh uninstall",
            "updateCommand": "main/handle.sh update", "enableCommand": "main/handle.sh enable",
            "disableCommand": "main/handle.sh disable", "rebootAfterInstall": False,
            "reportHeartbeat": False, "continueOnUpdateFailure": False}}], indent=2)
    c.put_json(base + "/HandlerEnvironment.json", [{
        "name": SNAP, "version": 1.0, "handlerEnvironment": {
            "logFolder": "/var/log/azure/%s" % SNAP, "configFolder": "/%s/config" % base,
            "statusFolder": "/%s/status" % base, "heartbeatFile": "/%s/heartbeat.log" % base,
            "eventsFolder": "/var/log/azure/%s/events" % SNAP}}])
    c.put(base + "/mrseq", str(seq))
    c.put(base + "/config/HandlerState", state)
    c.put_json(base + "/config/HandlerStatus", hstatus or {
        "name": SNAP, "version": ver, "status": "Ready", "code": 0, "message": "Plugin enabled",
        "supports_multi_config": False, "extension_status": None})
    c.put(base + "/config/%d.settings" % seq, settings_json(c, seq, task, cmd_start))
    if status is not None:
        c.put(base + "/status/%d.status" % seq, status)


# --------------------------------------------------------------------------------------
# Configuration and state files
# --------------------------------------------------------------------------------------

def waagent_conf(overrides: dict[str, str] | None = None, legacy: bool = False) -> str:
    """An /etc/waagent.conf in the shipped layout (keys from agent-logs.md §6)."""
    o = dict(overrides or {})
    keys = [
        ("Extensions.Enabled", "y", "Turn extension handling on or off. Backup, monitoring and password reset need it."),
        ("Provisioning.Agent", "auto", "Which provisioning agent to use: auto, waagent, cloud-init or disabled."),
        ("Provisioning.DeleteRootPassword", "y", "Password authentication for root account will be unavailable."),
        ("Provisioning.RegenerateSshHostKeyPair", "n", "Generate fresh host key pair."),
        ("Provisioning.SshHostKeyPairType", "rsa", "Supported values are rsa, dsa, ecdsa, ed25519 and auto."),
        ("Provisioning.MonitorHostName", "n", "Monitor host name changes and publish changes via DHCP requests."),
        ("Provisioning.DecodeCustomData", "n", "Decode CustomData from Base64."),
        ("Provisioning.ExecuteCustomData", "n", "Execute CustomData after provisioning."),
        ("Provisioning.AllowResetSysUser", "n", "Allow reset password of sys user"),
        ("ResourceDisk.Format", "n", "Format if unformatted. If 'n', resource disk will not be mounted."),
        ("ResourceDisk.Filesystem", "ext4", "File system on the resource disk"),
        ("ResourceDisk.MountPoint", "/mnt", "Mount point for the resource disk"),
        ("ResourceDisk.EnableSwap", "n", "Create and use swapfile on resource disk."),
        ("ResourceDisk.SwapSizeMB", "0", "Size of the swapfile."),
        ("ResourceDisk.MountOptions", "None", "Comma-separated list of mount options. See mount(8) for valid options."),
        ("Logs.Verbose", "n", "Enable verbose logging (y|n)"),
        ("Logs.Collect", "y", "Enable periodic log collection, default is y"),
        ("Logs.CollectPeriod", "3600", "How frequently to collect logs, default is each hour"),
        ("OS.AllowHTTP", "n", "Allow fallback to HTTP if HTTPS is unavailable"),
        ("OS.RootDeviceScsiTimeout", "300", "Root device timeout in seconds."),
        ("OS.OpensslPath", "None", "If \"None, the system default version is used."),
        ("OS.SshDir", "/etc/ssh", "Set the SSH ClientAliveInterval"),
        ("OS.EnableFirewall", "y", "Add firewall rules to protect access to Azure host node services"),
        ("HttpProxy.Host", "None", "If set, agent will use proxy server to access internet"),
        ("HttpProxy.Port", "None", None),
        ("AutoUpdate.Enabled", "y", "Enable or disable goal state processing auto-update, default is enabled"),
        ("AutoUpdate.GAFamily", "Prod", "Determine the update family, this should not be changed"),
    ]
    if legacy:
        keys = [k for k in keys if k[0] != "Provisioning.Agent" and not k[0].startswith("Logs.Collect")]
        keys[1:1] = [("Provisioning.Enabled", "n", "Enable instance creation"),
                     ("Provisioning.UseCloudInit", "y", "Rely on cloud-init to provision")]
    out = ["#", "# Microsoft Azure Linux Agent Configuration", "#", ""]
    for key, default, comment in keys:
        if comment:
            out.append("# " + comment)
        out.append("%s=%s" % (key, o.pop(key, default)))
        out.append("")
    for key, value in o.items():
        out.append("%s=%s" % (key, value))
        out.append("")
    return "\n".join(out)


def os_release(c: Ctx) -> str:
    if c.os_id == "ubuntu":
        code = {"16.04": "xenial", "18.04": "bionic", "20.04": "focal", "22.04": "jammy"}[c.os_ver]
        return ('NAME="Ubuntu"\nVERSION="%s (%s)"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="%s"\n'
                'VERSION_ID="%s"\nHOME_URL="https://www.ubuntu.com/"\nSUPPORT_URL="https://help.ubuntu.com/"\n'
                'VERSION_CODENAME=%s\nUBUNTU_CODENAME=%s\n' % (c.pretty.replace("Ubuntu ", ""), code.capitalize(),
                                                              c.pretty, c.os_ver, code, code))
    if c.os_id == "debian":
        return ('PRETTY_NAME="%s"\nNAME="Debian GNU/Linux"\nVERSION_ID="%s"\nVERSION="%s (bullseye)"\n'
                'VERSION_CODENAME=bullseye\nID=debian\nHOME_URL="https://www.debian.org/"\n' % (c.pretty, c.os_ver, c.os_ver))
    return ('NAME="Red Hat Enterprise Linux%s"\nVERSION="%s"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="%s"\n'
            'PRETTY_NAME="%s"\nCPE_NAME="cpe:/o:redhat:enterprise_linux:%s:GA"\nHOME_URL="https://www.redhat.com/"\n'
            % ("" if c.os_ver.startswith("8") else " Server", c.os_ver, c.os_ver, c.pretty, c.os_ver.split(".")[0]))


def lease_text(c: Ctx, start: datetime, with_245: bool = True, azure: bool = True) -> str:
    """A dhclient lease as dhclient writes it; Azure hands out 'infinite' leases with option 245."""
    gw = c.ip.rsplit(".", 1)[0] + ".1"
    if azure:
        lines = ['  interface "eth0";', "  fixed-address %s;" % c.ip,
                 '  server-name "RDC%s";' % c.rng.hexs(9, upper=True),
                 "  option subnet-mask 255.255.255.0;", "  option dhcp-lease-time 4294967295;",
                 "  option routers %s;" % gw, "  option dhcp-message-type 5;",
                 "  option dhcp-server-identifier %s;" % WIRE, "  option domain-name-servers %s;" % WIRE,
                 "  option dhcp-renewal-time 4294967295;",
                 "  option rfc3442-classless-static-routes 0,%s,32,168,63,129,16,%s,32,169,254,169,254,%s;"
                 % (gw.replace(".", ","), gw.replace(".", ","), gw.replace(".", ","))]
        if with_245:
            lines.append("  option unknown-245 a8:3f:81:10;")
        lines += ["  option dhcp-rebinding-time 4294967295;",
                  '  option domain-name "%s.ax.internal.cloudapp.net";' % c.rng.hexs(26),
                  "  renew 4 2160/10/17 14:03:11;", "  rebind 4 2160/10/17 14:03:11;",
                  "  expire 4 2160/10/17 14:03:11;"]
    else:
        srv = c.ip.rsplit(".", 1)[0] + ".2"
        end = start + timedelta(hours=8)
        stamp = lambda t: "%d %s;" % ((t.weekday() + 1) % 7, t.strftime("%Y/%m/%d %H:%M:%S"))
        lines = ['  interface "eth0";', "  fixed-address %s;" % c.ip, "  option subnet-mask 255.255.255.0;",
                 "  option routers %s;" % gw, "  option dhcp-lease-time 28800;", "  option dhcp-message-type 5;",
                 "  option domain-name-servers %s,%s;" % (srv, gw), "  option dhcp-server-identifier %s;" % srv,
                 '  option domain-name "corp.contoso.example";',
                 "  renew " + stamp(start + timedelta(hours=4)), "  rebind " + stamp(start + timedelta(hours=7)),
                 "  expire " + stamp(end)]
    return "lease {\n" + "\n".join(lines) + "\n}\n"


def goal_state_xml(c: Ctx, inc: int) -> str:
    base = "http://%s:80/machine/%s/%s" % (WIRE, c.container_id, c.role_instance.replace("._", "%2E_"))
    q = lambda typ: "%s?comp=config&amp;type=%s&amp;incarnation=%d" % (base, typ, inc)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">\n'
            "  <Version>2010-12-15</Version>\n  <Incarnation>%d</Incarnation>\n"
            "  <Machine>\n    <ExpectedState>Started</ExpectedState>\n    <StopRolesDeadlineHint>300000</StopRolesDeadlineHint>\n"
            "    <LBProbePorts>\n      <Port>16001</Port>\n    </LBProbePorts>\n    <ExpectHealthReport>FALSE</ExpectHealthReport>\n  </Machine>\n"
            "  <Container>\n    <ContainerId>%s</ContainerId>\n    <RoleInstanceList>\n      <RoleInstance>\n"
            "        <InstanceId>%s</InstanceId>\n        <State>Started</State>\n        <Configuration>\n"
            "          <HostingEnvironmentConfig>%s</HostingEnvironmentConfig>\n          <SharedConfig>%s</SharedConfig>\n"
            "          <ExtensionsConfig>%s</ExtensionsConfig>\n          <FullConfig>%s</FullConfig>\n"
            "          <Certificates>%s?comp=certificates&amp;incarnation=%d</Certificates>\n"
            "          <ConfigName>%s.%d.%s.%d._%s.1.xml</ConfigName>\n        </Configuration>\n"
            "      </RoleInstance>\n    </RoleInstanceList>\n  </Container>\n</GoalState>\n"
            % (inc, c.container_id, c.role_instance, q("hostingEnvironmentConfig"), q("sharedConfig"),
               q("extensionsConfig"), q("fullConfig"), base, inc, c.deployment[:8], inc, c.deployment[8:16], inc, c.host))


def extensions_config_xml(c: Ctx, inc: int, seq: int, task: str, created: datetime, protected: bool = False,
                          ver: str | None = None, legacy: bool = False) -> str:
    ver = ver or c.snap_ver
    settings = json.loads(settings_json(c, seq, task, created))
    if not protected:  # 2.8+ history copies are redacted
        hs = settings["runtimeSettings"][0]["handlerSettings"]
        del hs["protectedSettings"]
    manifest = "https://%s.blob.core.windows.net/%s/%s_%s_%s_manifest.xml" % (
        c.pir, c.pir_path, SNAP.replace(".VMSnapshotLinux", ""), "VMSnapshotLinux", c.region)
    ga = ("    <GAFamily>\n      <Name>Prod</Name>\n" + ("" if legacy else "      <Version>%s</Version>\n" % c.agent_ver) +
          "      <Uris>\n        <Uri>https://%s.blob.core.windows.net/%s/Microsoft.OSTCLinuxAgent_Prod_%s_manifest.xml</Uri>\n"
          "      </Uris>\n    </GAFamily>\n" % (c.pir, c.pir_path, c.region))
    meta = ("" if legacy else '<InVMGoalStateMetaData inSvdSeqNo="%d" createdOnTicks="%d" activityId="%s" correlationId="%s" />\n'
            % (inc + 3, ticks(created), c.rng.guid(), c.rng.guid()))
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<Extensions version="1.0.0.0" goalStateIncarnation="%d"><GuestAgentExtension xmlns:i="http://www.w3.org/2001/XMLSchema-instance">\n'
            "  <GAFamilies>\n%s  </GAFamilies>\n  <Location>%s</Location>\n</GuestAgentExtension>\n"
            '<StatusUploadBlob statusBlobType="PageBlob">%s</StatusUploadBlob>\n'
            "<Plugins>\n"
            '  <Plugin name="%s" version="%s" location="%s" state="enabled" autoUpgrade="true" '
            'failoverlocation="%s" runAsStartupTask="false" isJson="true" useExactVersion="true" />\n'
            "</Plugins>\n<PluginSettings>\n"
            '  <Plugin name="%s" version="%s">\n    <RuntimeSettings seqNo="%d">%s</RuntimeSettings>\n  </Plugin>\n'
            "</PluginSettings>\n%s</Extensions>\n"
            % (inc, ga, c.region,
               c.sas("%s.z%d.blob.storage.azure.net" % (c.disk_acct, 31), "$system/%s.%s.status" % (c.host, c.vm_id), "w").replace("&", "&amp;"),
               SNAP, ver, manifest, manifest.replace(c.pir, c.pir.replace("prdstr0", "prdstr1")), SNAP, ver, seq,
               json.dumps(settings).replace("&", "&amp;"), meta))


def waagent_status(c: Ctx, ts: datetime, handler: dict, ext_status: str | None = "success",
                   ext_code: int = 1, message: str = "") -> str:
    h = {"handlerVersion": handler.get("version", c.snap_ver), "handlerName": SNAP,
         "status": handler.get("status", "Ready"), "code": handler.get("code", 0), "useExactVersion": True,
         "formattedMessage": {"lang": "en-US", "message": handler.get("message", "Plugin enabled")}}
    if ext_status is not None:
        h["runtimeSettingsStatus"] = {"settingsStatus": {"status": {
            "name": SNAP, "configurationAppliedTime": iso_s(ts), "operation": "Enable", "status": ext_status,
            "code": ext_code, "formattedMessage": {"lang": "en-US", "message": message}, "substatus": []},
            "version": 1.0, "timestampUTC": iso_s(ts)}, "sequenceNumber": handler.get("seq", 0)}
    doc = {"version": "1.1", "timestampUTC": iso_s(ts), "aggregateStatus": {
        "guestAgentStatus": {"version": c.agent_ver, "status": "Ready",
                             "formattedMessage": {"lang": "en-US", "message": "Guest Agent is running"},
                             "updateStatus": {"expectedVersion": c.agent_ver, "status": "Success", "code": 0,
                                              "formattedMessage": {"lang": "en-US", "message": ""}}},
        "handlerAggregateStatus": [h],
        "vmArtifactsAggregateStatus": {"goalStateAggregateStatus": {
            "formattedMessage": {"lang": "en-US", "message": "GoalState executed successfully"},
            "timestampUTC": iso_s(ts), "inSvdSeqNo": str(handler.get("inc", 1) + 3), "status": "Success", "code": 0}}},
        "guestOSInfo": {"computerName": c.host, "osName": c.os_id, "osVersion": c.os_ver, "version": c.agent_ver},
        "supportedFeatures": [{"Key": "MultipleExtensionsPerHandler", "Value": "1.0"},
                              {"Key": "VersioningGovernance", "Value": "1.0"},
                              {"Key": "FastTrack", "Value": "1.0"}]}
    return json.dumps(doc)


def history_dir(c: Ctx, processed: datetime, inc: int, seq: int, task: str, created: datetime) -> dict[str, bytes]:
    return {"GoalState.xml": goal_state_xml(c, inc).encode(),
            "ExtensionsConfig.xml": extensions_config_xml(c, inc, seq, task, created).encode()}


def put_history(c: Ctx, processed: datetime, inc: int, seq: int, task: str, created: datetime,
                zipped: bool = False) -> None:
    name = "%s__%d" % (processed.strftime("%Y-%m-%dT%H-%M-%S"), inc)
    files = history_dir(c, processed, inc, seq, task, created)
    if zipped:
        c.put("var/lib/waagent/history/%s.zip" % name, make_zip(files, processed))
    else:
        for fn, data in files.items():
            c.put("var/lib/waagent/history/%s/%s" % (name, fn), data)


# --------------------------------------------------------------------------------------
# Archives (fixed mtimes) and results.txt
# --------------------------------------------------------------------------------------

def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def make_zip(files: dict[str, bytes], when: datetime, order: list[str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in order or sorted(files):
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, files[name])
    return buf.getvalue()


def make_targz(files: dict[str, bytes], lead: str, when: datetime) -> bytes:
    buf = io.BytesIO()
    mtime = int(when.timestamp())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        dirs = {lead}
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add(lead + "/" + "/".join(parts[:i]))
        entries = [(d, None) for d in dirs] + [(lead + "/" + n, files[n]) for n in files]
        for path, data in sorted(entries):
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "root", "root"
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tf.addfile(info, io.BytesIO(data))
    return gz(buf.getvalue())


def collector_order(paths: list[str]) -> list[str]:
    """The log collector's priority: waagent.log, status json, history zips, /var/log/azure, rest."""
    def key(p: str) -> tuple[int, str]:
        if p == "var/log/waagent.log":
            return (0, p)
        if p == "var/lib/waagent/waagent_status.json":
            return (1, p)
        if p.startswith("var/lib/waagent/history/") and p.endswith(".zip"):
            return (2, p)
        if p.startswith("var/log/azure/"):
            return (3, p)
        if p == "results.txt":
            return (9, p)
        return (5, p)
    return sorted(paths, key=key)


def results_txt(c: Ctx) -> str:
    """results.txt (agent-logs.md §3.4): '<ts>Z LEVEL msg', second resolution, UTC."""
    t0 = c.collect
    r = c.rng
    lines: list[str] = []
    t = [t0]

    def log(msg: str, level: str = "INFO", adv: float = 0.0) -> None:
        t[0] += timedelta(seconds=adv)
        lines.append("%s %s %s" % (iso_s(t[0]), level, msg))

    files = {p: d for p, d in c.files.items()}
    log("Starting log collection at %s" % iso_s(t0))
    log("Using log collection mode full")
    log("Using /var/lib/waagent as $LIB_DIR")
    log("Using /var/log/azure as $LOG_DIR")
    log("Using /var/log/waagent.log as $AGENT_LOG")
    log("### Probing Directories ###")
    for d, extra in (("var/log", [("drwxr-xr-x", "apt/"), ("drwxr-sr-x+", "journal/")]),
                     ("var/lib/waagent", [("drwxr-xr-x", "events/"), ("-r--------", "ovf-env.xml"),
                                          ("-rw-r--r--", "Incarnation" if c.agent_ver.startswith("2.2.") else "published_hostname")])):
        entries: dict[str, tuple[str, int]] = {}
        for p, data in files.items():
            if p.startswith(d + "/"):
                rest = p[len(d) + 1:]
                if "/" in rest:
                    entries.setdefault(rest.split("/")[0] + "/", ("drwxr-xr-x", 4096))
                else:
                    entries[rest] = ("-rw-r--r--", len(data))
        for mode, nm in extra:
            entries.setdefault(nm, (mode, 4096 if nm.endswith("/") else r.randrange(40, 9000)))
        body = ["total %d" % (sum(s for _, s in entries.values()) // 1024 + 8),
                "drwxr-xr-x %2d root root %8d %s ./" % (len(entries) + 2, 4096, ls_date(t0)),
                "drwxr-xr-x %2d root root %8d %s ../" % (14, 4096, ls_date(t0 - timedelta(days=40)))]
        for nm in sorted(entries):
            mode, size = entries[nm]
            when = t0 if nm == "waagent.log" else t0 - timedelta(minutes=r.randrange(0, 600))
            body.append("%s  1 root root %8d %s %s" % (mode, size, ls_date(when), nm))
        log("Output of command [ls -alF /%s]:\n%s\n" % (d, "\n".join(body)))
    groups = [("### Gathering Configuration Files ###", lambda p: p.startswith("etc/") or "/dhclient" in p or "/dhcp/" in p),
              ("### Gathering Log Files ###", lambda p: p.startswith("var/log/")),
              ("### Gathering Extension Files ###", lambda p: p.startswith("var/lib/waagent/"))]
    for title, pred in groups:
        log(title)
        for p in sorted(files):
            if pred(p) and not (title.startswith("### Gathering Extension") and ("/dhclient" in p)):
                log("/" + p)
        log("")
    log("### Preparing list of files to add to archive ###", adv=0.4)
    total = 0
    for p in collector_order(list(files)):
        log("Adding file /%s, size %d b" % (p, len(files[p])))
        total += len(files[p])
    log("Uncompressed archive size is %d b" % total)
    log("### Creating compressed archive ###")
    log("Successfully compressed files. Compressed archive size is %d b" % (total // 7 + r.randrange(500, 900)), adv=1.2)
    log("Finishing log collection at %s" % iso_s(t[0]))
    log("Elapsed time: %d ms" % (int((t[0] - t0).total_seconds() * 1000) + r.randrange(100, 900)))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Shared scenario pieces
# --------------------------------------------------------------------------------------

MOUNTS = ["/data", "/"]


def backup_ok(A: Agent, X: ExtLog, t: datetime, inc: int, seq: int, mounts: list[str] = MOUNTS) -> dict:
    """A scheduled backup: new incarnation, enable, host snapshot succeeds."""
    c = A.ctx
    task = c.rng.guid()
    created = t - timedelta(seconds=c.rng.uniform(20, 50))
    A.at(t)
    new_goal_state(A, inc)
    started = snap_enable(A, inc, seq, created)
    X.at(started + timedelta(seconds=0.31))
    p = ext_success(X, seq, task, mounts)
    A.fork(p["ts"] + timedelta(seconds=c.rng.uniform(3, 6))).x(
        "All extensions in the goal state have reached a terminal state: [('%s', 'success')]" % SNAP)
    A.fork(p["ts"] + timedelta(seconds=c.rng.uniform(40, 200))).x(
        "Collected 1 events for extension: %s" % SNAP, thread="TelemetryEventsCollector")
    p.update(inc=inc, seq=seq, created=created, processed=t)
    return p


def finish(c: Ctx, log: LogFile, X: ExtLog | None, rotate: tuple[datetime, str] | None = None,
           leases: str | None = None, conf: dict | None = None, legacy_conf: bool = False,
           collector_line: bool = True) -> None:
    if collector_line:
        Agent(c, log, c.collect - timedelta(seconds=0.9)).lc("Running log collector mode full")
    assert log.last_ts() < c.collect, c.name
    if rotate:
        at, name = rotate
        c.put("var/log/" + name, gz(log.render(hi=at).encode("ascii")))
        c.put("var/log/waagent.log", log.render(lo=at))
    else:
        c.put("var/log/waagent.log", log.render())
    for name, lf in getattr(log, "cmdlogs", {}).items():
        c.put("var/log/azure/%s/CommandExecution.log" % name, lf.render())
    if X is not None:
        c.put(SNAP_LOGDIR + "/extension.log", X.log.render())
        if X.shell.items:
            c.put(SNAP_LOGDIR + "/shell.log", X.shell.render())
    c.put("etc/waagent.conf", waagent_conf(conf, legacy=legacy_conf))
    c.put("etc/os-release", os_release(c))
    c.put("etc/hostname", c.host + "\n")
    c.put(c.leases, leases if leases is not None else lease_text(c, c.collect - timedelta(days=30)))
    c.put("results.txt", results_txt(c))


def modern_state(c: Ctx, last: dict, status: str | None = None, ws: str | None = None,
                 history: list[dict] | None = None) -> None:
    """waagent_status.json, placeholder GoalState.1.xml, history dirs, handler dir."""
    c.put("var/lib/waagent/GoalState.1.xml", "<xml>empty placeholder file</xml>")
    c.put("var/lib/waagent/waagent_status.json", ws or waagent_status(
        c, c.collect - timedelta(seconds=4), {"seq": last["seq"], "inc": last["inc"]},
        "success" if last["code"] in ("0", "1") else "error", int(last["code"]), last["msgstr"]))
    for i, h in enumerate(history or [last]):
        put_history(c, h["processed"], h["inc"], h["seq"], h["task"], h["created"],
                    zipped=i < len(history or [last]) - 1 and h.get("zip", False))
    handler_files(c, c.snap_ver, last["seq"], last["task"], last["created"],
                  status if status is not None else status_json(c, last, last["seq"], last["created"]))


# --------------------------------------------------------------------------------------
# The bundles
# --------------------------------------------------------------------------------------

def b_healthy() -> Ctx:
    c = Ctx("healthy", host="lnx-app-017", os=("ubuntu", "20.04", "Ubuntu"), pretty="Ubuntu 20.04.6 LTS",
            collect=T("2024-10-03T10:15:02"))
    r = c.rng
    log, X = LogFile(), ExtLog(c)
    boot = T("2024-10-01T05:10:00")
    A = Agent(c, log, boot)
    daemon_start(A, 6)
    exthandler_start(A, 6, c.pid_ext)
    gs_started(A, 6, boot - timedelta(days=3, minutes=12))
    gs_completed(A, 6, 118)
    heartbeats(A, boot, c.collect)
    dhcp_not_running(A, [boot + timedelta(seconds=41), T("2024-10-02T19:31:07")])
    A.fork(T("2024-10-01T12:03:44")).event("WALinuxAgent", "ReportEventErrors",
        "DroppedEventsCount: 1\nReasons (first 5 errors): [ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] "
        "POST http://%s/machine?comp=telemetrydata -- IOError timed out -- 1 attempts made: Traceback (most recent call last):\n"
        "  File \"bin/WALinuxAgent-%s-py3.8.egg/azurelinuxagent/common/protocol/wire.py\", line 1140, in _send_event\n"
        "    raise ProtocolError(\"[Wireserver Exception] {0}\".format(ustr(e)))" % (WIRE, c.agent_ver), thread="SendTelemetryHandler")
    A.fork(T("2024-10-01T16:20:31")).x(
        "Error in SendHostPluginHeartbeat: [HttpError] [HTTP Failed] GET http://%s:32526/health -- IOError timed out -- 1 attempts made "
        "--- [NOTE: Will not log the same error for the next hour]" % WIRE, "WARNING", thread="MonitorHandler")
    # one transient fetch of the legacy artifacts blob; the SAS is FAKE (redaction tests)
    A.fork(T("2024-10-02T08:12:19")).x("Fetch failed: [HttpError] [HTTP Failed] GET %s -- IOError timed out -- 1 attempts made" % c.sas(
        "%s.z17.blob.storage.azure.net" % c.disk_acct, "$system/%s.%s.vmSettings" % (c.host, c.vm_id)), "WARNING")
    A.fork(T("2024-10-02T11:47:02")).g(
        "Fetching the goal state failed: [ProtocolError] GET vmSettings [correlation ID: %s eTag: %s]: [Internal error in HostGAPlugin] "
        "[HTTP Failed] [502: Bad Gateway] b'{  \"errorCode\": \"VMArtifactsProfileBlobContentNotFound\",  \"message\": \"vmSettings are not "
        "available yet\",  \"details\": \"\"}'" % (r.guid(), r.digits(19)), "WARNING")
    h1 = backup_ok(A, X, T("2024-10-01T21:00:12"), 7, 41)
    h2 = backup_ok(A, X, T("2024-10-02T21:00:09"), 8, 42)
    # host maintenance: the WireServer answers 410 once, then a new incarnation arrives
    B = A.fork(T("2024-10-03T03:12:05"))
    B.g("Fetching the goal state failed: [ResourceGoneError] [HTTP Failed] [410: Gone] b'<?xml version=\"1.0\" encoding=\"utf-8\"?>\\n"
        "<Error xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\\n"
        "    <Code>ResourceNotAvailable</Code>\\n    <Message>The resource requested is no longer available. Please refresh your cache.</Message>\\n"
        "    <Details></Details>\\n</Error>'", "WARNING")
    B.wait(6)
    new_goal_state(B, 9)
    gs_started(B, 9, B.t - timedelta(seconds=30))
    gs_completed(B, 9, 87)
    h1["zip"] = True
    h3 = dict(h2, inc=9, processed=B.t - timedelta(seconds=1), created=h2["created"])
    modern_state(c, h2, history=[h1, h2, h3])
    rot = T("2024-10-02T06:25:01")
    finish(c, log, X, rotate=(rot, "waagent.log-%s-%d.gz" % (rot.strftime("%Y-%m-%d"), int(rot.timestamp()))))
    return c


def storage_fail(A: Agent, url: str, err: str = "IOError timed out", n: int = 6, fetch_from: bool = False) -> None:
    if fetch_from:
        A.x("Fetch failed from [%s]: [HTTP Failed] GET %s -- %s -- %d attempts made" % (url, url, err, n), "WARNING")
    else:
        A.x("Fetch failed: [HttpError] [HTTP Failed] GET %s -- %s -- %d attempts made" % (url, err, n), "WARNING")


def ext_nonet(X: ExtLog, seq: int, task: str, mounts: list[str], proxy_note: bool = False) -> dict:
    """Guest-path snapshot; every HTTPS call to the disk blobs times out -> code 76."""
    c = X.ctx
    r = c.rng
    start = X.t
    ext_preamble(X, seq, task)
    ext_daemon_checks(X)
    ext_freeze_begin(X, mounts)
    buf = ["================== Logs during Freeze Start =============="]
    buf.append(X.dline("Info", "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile file opened Sucessfully"))
    buf.append(X.dline("Info", "Aquiring lock succeeded"))
    X.wait(2.1)
    bin_start = X.t
    buf.append(X.dline("Info", "****** 1. Starting Freeze Binary"))
    X.wait(0.9)
    buf.append(X.dline("Info", "****** 4. Freeze Completed (Signal=1 received)"))
    X.wait(10.2)
    buf.append(X.dline("Error", "snapshot HttpCallGetResponse failed "))
    X.wait(10.1)
    buf.append(X.dline("Error", "snapshot HttpCallGetResponse failed "))
    buf.append(X.dline("Info", "****** 7. Sending Thaw Signal to Binary"))
    thaw = X.t
    buf.append("================== Logs during Freeze End ==============")
    X.a("\n".join(buf))
    ext_binary_output(X, [(bin_start, "****** 2. Binary Freeze Started")] + [(bin_start, "Freezing: %s" % m) for m in mounts]
                      + [(thaw, "****** 8. Binary Thaw Signal Received")] + [(thaw, "Thawing: %s" % m) for m in mounts])
    X.a("T:S thaw result ")
    snaps = []
    for i in range(2):
        blob = "https://%s.blob.core.windows.net/vhds/%s-disk%d.vhd" % (c.disk_acct.replace("md-", "st"), c.host, i)
        inner = X.tick()
        X.a("%s Failed to call http with error: timed out, stack trace: Traceback (most recent call last):\n"
            "  File \"%s/main/HttpUtil.py\", line 140, in HttpCallGetResponse\n"
            "    resp = connection.getresponse()\n"
            "  File \"/usr/lib/python3.%s/http/client.py\", line 1348, in getresponse\n"
            "    response.begin()\n"
            "socket.timeout: timed out" % (pystr(inner - timedelta(seconds=10)), c.snap_dir, c.py.split(".")[1]))
        X.a("snapshot resp status: 0 ")
        snaps.append({"isSuccessful": False, "snapshotUri": None, "errorMessage": "timed out", "blobUri": blob,
                      "directDriveSnapshotIdentifier": None})
    X.a("IsSuccessful:False, SnapshotUri:None, ErrorMessage:timed out")
    X.a("T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error StatusCode.FailedRetryableSnapshotFailedNoNetwork,")
    X.wait(1.3)
    X.a("Enable,error,76,T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error,False")
    tele = [("FailedRetryableSnapshotFailedNoNetwork", "extErrorCode"), ("guestExtension", "snapshotCreator"),
            ("%.2f" % (thaw - bin_start).total_seconds(), "FreezeTime")]
    return dict(ts=X.t, code="76", inner="error", msgstr="snapshotCreator=guestExtension, ", tele=tele, snaps=snaps,
                health=(256, 76), consistency=0, task=task, start=start)


def backup_with(A: Agent, X: ExtLog, t: datetime, inc: int, seq: int, ext_fn, **kw) -> dict:
    c = A.ctx
    task = c.rng.guid()
    created = t - timedelta(seconds=c.rng.uniform(20, 50))
    A.at(t)
    new_goal_state(A, inc)
    started = snap_enable(A, inc, seq, created)
    X.at(started + timedelta(seconds=0.28))
    p = ext_fn(X, seq, task, MOUNTS, **kw)
    A.fork(p["ts"] + timedelta(seconds=c.rng.uniform(3, 6))).x(
        "All extensions in the goal state have reached a terminal state: [('%s', '%s')]" % (SNAP, "success"))
    p.update(inc=inc, seq=seq, created=created, processed=t)
    return p


def b_no_internet() -> Ctx:
    c = Ctx("no-internet-access", host="lnx-db-042", os=("ubuntu", "22.04", "Ubuntu"), pretty="Ubuntu 22.04.4 LTS",
            py="3.10.12", systemd="systemd 249 (249.11-0ubuntu3.12)", logrotate="logrotate 3.19.0",
            openssl="OpenSSL 3.0.2 15 Mar 2022", collect=T("2024-11-12T08:40:17"), region="northeurope", ip="10.20.3.7")
    log, X = LogFile(), ExtLog(c)
    boot = T("2024-11-10T07:02:30")
    A = Agent(c, log, boot)
    daemon_start(A, 14)
    exthandler_start(A, 14, c.pid_ext, cgroups=False)
    gs_started(A, 14, boot - timedelta(days=1))
    gs_completed(A, 14, 96)
    heartbeats(A, boot, c.collect)
    dhcp_not_running(A, [boot + timedelta(seconds=37)])
    h1 = backup_ok(A, X, T("2024-11-10T21:30:11"), 15, 56)
    # 2024-11-11 ~15:00: outbound internet blocked (NSG); storage fetches fail, HGAP channel still works
    man = "https://%s.blob.core.windows.net/%s/Microsoft.OSTCLinuxAgent_Prod_%s_manifest.xml" % (c.pir, c.pir_path, c.region)
    for t in ("2024-11-11T15:06:40", "2024-11-11T16:06:44", "2024-11-11T18:06:51", "2024-11-12T06:07:02"):
        B = A.fork(T(t))
        B.x("Downloading agent manifest")
        B.wait(64)
        storage_fail(B, man, n=1, fetch_from=True)
        B.x("Default channel changed to HostGAPlugin channel.")
    B = A.fork(T("2024-11-11T15:40:02"))
    B.x("Error in SendImdsHeartbeat: IMDS error in /metadata/instance: [HTTP Failed] Unable to connect to endpoint "
        "--- [NOTE: Will not log the same error for the next hour]", "WARNING", thread="MonitorHandler")
    ext_man = "https://%s.blob.core.windows.net/%s/Microsoft.Azure.RecoveryServices_VMSnapshotLinux_%s_manifest.xml" % (c.pir, c.pir_path, c.region)

    def failing(t: datetime, inc: int, seq: int) -> dict:
        B = A.fork(t)
        B.x("Downloading extension manifest")
        B.wait(60)
        storage_fail(B, ext_man, "IOError [Errno 110] Connection timed out", 1, fetch_from=True)
        B.x("Default channel changed to HostGAPlugin channel.")
        return backup_with(A, X, B.t + timedelta(seconds=2), inc, seq, ext_nonet)

    failing(T("2024-11-11T21:30:08"), 16, 57)
    h3 = failing(T("2024-11-12T07:10:44"), 17, 58)
    modern_state(c, h3, history=[h1, h3])
    finish(c, log, X, leases=None)
    return c


def b_agent_outdated() -> Ctx:
    """Agent 2.2.18 (E1: local time, no prefix), AutoUpdate.Enabled=n, python-2 extension.log (Format B)."""
    c = Ctx("agent-outdated", host="legacy-ftp-03", os=("ubuntu", "16.04", "Ubuntu"), pretty="Ubuntu 16.04.7 LTS",
            py="3.5.2", daemon="2.2.18", agent="2.2.18", snap="1.0.9150.0", collect=T("2024-07-09T09:05:44"), ip="10.4.0.5")
    r = c.rng
    log, X = LogFile(), ExtLog(c, py=2)
    H = "%s-%s" % (SNAP, c.snap_ver)

    def boot(t: datetime, inc: int) -> Agent:
        A = Agent(c, log, t, daemon_era="E1", ext_era="E1")
        A.d("Azure Linux Agent Version:2.2.18")
        A.d("OS: ubuntu 16.04")
        A.d("Python: 3.5.2")
        A.d("Run daemon")
        A.d("No RDMA handler exists for distro='Ubuntu' version='16.04'")
        A.d("Clean protocol")
        A.d("Detect protocol endpoints")
        A.d("Test for route to %s" % WIRE)
        A.d("Route to %s exists" % WIRE)
        A.d("Wire server endpoint:%s" % WIRE)
        A.d("Fabric preferred wire protocol version:2015-04-05")
        A.d("Wire protocol version:2012-11-30")
        A.d("Server preferred version:2015-04-05", "WARNING")
        A.d("Provisioning is disabled, skipping.")
        A.d("RDMA capabilities are not enabled, skipping")
        A.d("Installed Agent WALinuxAgent-2.2.18 is the most current agent")
        A.tick(1.0, 2.0)
        A.x("Agent WALinuxAgent-2.2.18 is running as the goal state agent")
        A.x("WALinuxAgent-2.2.18 running as process %d" % r.randrange(1200, 1900))
        A.x("Wire server endpoint:%s" % WIRE)
        A.x("Event: name=WALinuxAgent, op=HeartBeat, message=, duration=0")
        A.e(H, "Target handler state: enabled")
        A.e(H, "[Enable] current handler state is: enabled")
        return A

    def beats(t0: datetime, t1: datetime) -> None:
        t = t0 + timedelta(minutes=30)
        while t < t1:
            Agent(c, log, t + timedelta(seconds=r.uniform(0, 1)), "E1", "E1").x(
                "Event: name=WALinuxAgent, op=HeartBeat, message=, duration=0")
            t += timedelta(minutes=30)

    def backup(t: datetime, inc: int, seq: int) -> dict:
        A = Agent(c, log, t, "E1", "E1")
        task = r.guid()
        A.e(H, "Target handler state: enabled")
        A.e(H, "[Enable] current handler state is: enabled")
        A.e(H, "Update settings file: %d.settings" % seq)
        A.e(H, "Enable extension [main/handle.sh enable]")
        X.at(A.t + timedelta(seconds=0.4))
        p = ext_success(X, seq, task, ["/srv/ftp", "/"], disks=1)
        A.wait(3.1)
        A.x("Event: name=%s, op=Enable, message=, duration=0" % SNAP)
        p.update(inc=inc, seq=seq, created=t - timedelta(seconds=35), processed=t)
        return p

    t0 = T("2024-06-30T18:00:03")
    boot(t0, 31)
    beats(t0, T("2024-07-01T19:00:00"))
    backup(T("2024-06-30T21:00:17"), 32, 18)
    Agent(c, log, T("2024-07-01T11:20:41"), "E1", "E1").x(
        "[HTTP Retry] Attempt 2 of 3: [HTTP Failed] HTTP GET IOError timed out")
    Agent(c, log, T("2024-07-01T19:00:02"), "E1", "E1").d("Agent WALinuxAgent-2.2.18 forwarding signal 15 to WALinuxAgent-2.2.18\n")
    t1 = T("2024-07-08T07:50:12")
    boot(t1, 34)
    beats(t1, c.collect)
    last = backup(T("2024-07-08T21:00:14"), 35, 19)
    # legacy root-level goal-state cache (<= 2.7)
    c.put("var/lib/waagent/Incarnation", "35")
    c.put("var/lib/waagent/GoalState.35.xml", goal_state_xml(c, 35))
    c.put("var/lib/waagent/ExtensionsConfig.35.xml",
          extensions_config_xml(c, 35, 19, last["task"], last["created"], protected=True, legacy=True))
    c.put("var/lib/waagent/waagent_status.json", waagent_status(c, c.collect - timedelta(seconds=20),
          {"seq": 19, "inc": 35}, "success", 1, ""))
    handler_files(c, c.snap_ver, 19, last["task"], last["created"], status_json(c, last, 19, last["created"]))
    rot = T("2024-07-01T06:25:01")
    finish(c, log, X, rotate=(rot, "waagent.log.1.gz"), legacy_conf=True,
           conf={"AutoUpdate.Enabled": "n"}, collector_line=False)
    return c


def b_snapshot_status() -> Ctx:
    """Daemon 2.2.45 (E2, local '/' stamps) + ExtHandler 2.11 (ISO): CRP 402, status stuck transitioning."""
    c = Ctx("snapshot-status-unavailable", host="lnx-erp-app-11", os=("ubuntu", "18.04", "Ubuntu"),
            pretty="Ubuntu 18.04.6 LTS", py="3.6.9", daemon="2.2.45", systemd="systemd 237 (237-3ubuntu10.57)",
            logrotate="logrotate 3.11.0", openssl="OpenSSL 1.1.1  11 Sep 2018", collect=T("2024-12-04T06:02:31"), ip="10.8.1.21")
    r = c.rng
    log, X = LogFile(), ExtLog(c)
    boot = T("2024-12-02T22:14:51")
    A = Agent(c, log, boot, daemon_era="E2")
    daemon_start(A, 22)
    exthandler_start(A, 22, c.pid_ext)
    gs_started(A, 22, boot - timedelta(hours=5))
    gs_completed(A, 22, 102)
    heartbeats(A, boot, c.collect)
    dhcp_not_running(A, [boot + timedelta(seconds=44)])
    h1 = backup_ok(A, X, T("2024-12-03T02:30:06"), 23, 88)
    # 2024-12-04 02:30: backup starts while the VM is overloaded
    task = r.guid()
    created = T("2024-12-04T02:29:41")
    A.at(T("2024-12-04T02:30:03"))
    new_goal_state(A, 24)
    started = snap_enable(A, 24, 89, created)
    X.at(started + timedelta(seconds=0.4))
    ext_preamble(X, 89, task)
    stuck = X.t
    B = A.fork(T("2024-12-04T02:41:17"))
    B.x("[CGW] Disabling resource usage monitoring. Reason: Check on cgroups failed:\n"
        "[CGroupsException] The agent has been throttled for 187.34 seconds", thread="MonitorHandler")
    for t in ("2024-12-04T03:11:02", "2024-12-04T04:11:05"):
        A.fork(T(t)).x("[PERIODIC] Could not collect metrics for cgroup walinuxagent.service. Error : [Errno 12] Cannot allocate memory",
                       "WARNING", thread="MonitorHandler")
    X.at(T("2024-12-04T04:52:40"))
    X.a("safeFreezeBinary exists True")
    X.a("final thread timeout60")
    X.a("CRP timeout limit has reached, will not take snapshot.")
    A.fork(T("2024-12-04T05:30:12")).x("Extension status: [('%s', 'transitioning')]" % SNAP)
    p = dict(ts=stuck, code="4", inner="transitioning", msgstr="Transitioning state in extension", tele=None, snaps=None,
             health=(0, 4), consistency=0, task=task, inc=24, seq=89, created=created, processed=A.t)
    ws = waagent_status(c, c.collect - timedelta(seconds=3), {"seq": 89, "inc": 24}, "transitioning", 4,
                        json.dumps({"messageStr": "Transitioning state in extension", "snapshotConsistency": 0,
                                    "jobMessage": "", "isSizeComputationFailed": False}))
    modern_state(c, p, ws=ws, history=[h1, p])
    finish(c, log, X)
    return c


def b_dhcp_245() -> Ctx:
    c = Ctx("dhcp-245-missing", host="lnx-gw-relay-2", os=("ubuntu", "18.04", "Ubuntu"), pretty="Ubuntu 18.04.6 LTS",
            py="3.6.9", systemd="systemd 237 (237-3ubuntu10.57)", logrotate="logrotate 3.11.0",
            openssl="OpenSSL 1.1.1  11 Sep 2018", collect=T("2025-01-15T11:48:09"), ip="10.40.0.14")
    r = c.rng
    log, X = LogFile(), ExtLog(c)
    boot = T("2025-01-13T09:02:11")
    A = Agent(c, log, boot)
    daemon_start(A, 40)
    exthandler_start(A, 40, c.pid_ext)
    gs_started(A, 40, boot - timedelta(hours=2))
    gs_completed(A, 40, 91)
    reboot = T("2025-01-15T10:20:33")
    heartbeats(A, boot, reboot)
    dhcp_not_running(A, [boot + timedelta(seconds=39)])
    h1 = backup_ok(A, X, T("2025-01-13T20:00:09"), 41, 70)
    h2 = backup_ok(A, X, T("2025-01-14T20:00:13"), 42, 71)
    B = A.fork(reboot - timedelta(seconds=9))
    B.d("Agent WALinuxAgent-%s forwarding signal 15 to WALinuxAgent-%s\n" % (c.daemon_ver, c.agent_ver))
    # after the reboot the new DHCP lease has no option 245: the daemon never finds the WireServer
    D = A.fork(reboot + timedelta(seconds=71))
    D.d("Azure Linux Agent Version:%s" % c.daemon_ver)
    D.d("OS: ubuntu 18.04")
    D.d("Python: %s" % c.py)
    D.d("Run daemon")
    D.d("No RDMA handler exists for distro='Ubuntu' version='18.04'")
    D.d("Clean protocol and wireserver endpoint")
    D.d("Detect protocol endpoint")
    D.d("WireServer endpoint is not found. Rerun dhcp handler")
    retry = 0
    while True:
        D.d("Test for route to %s" % WIRE)
        D.d("No route exists to %s" % WIRE, "WARNING")
        D.d("Checking for dhcp lease cache")
        D.d("looking for leases in path [/var/lib/dhcp/dhclient.*.leases]")
        D.d("dhcp entry:/var/lib/dhcp/dhclient.eth0.leases, 245:None, expired:False")
        D.d("cached endpoint not found")
        D.d("Send dhcp request")
        for delay in (0, 10, 30, 60, 60):
            D.wait(delay + 10)
            D.d("Failed to send DHCP request: timed out", "WARNING")
        D.d("Protocol endpoint not found: [DhcpError] Failed to send DHCP request: timed out")
        retry += 1
        D.d("Retry detect protocol: retry=%d" % retry)
        D.wait(10)
        if D.t + timedelta(seconds=240) > c.collect:
            break
    modern_state(c, h2, history=[dict(h1, zip=True), h2])
    finish(c, log, X, leases=lease_text(c, reboot + timedelta(seconds=20), azure=False))
    return c


def b_extension_load() -> Ctx:
    """RHEL 8: VMSnapshotLinux 1.0.9225.0 cannot be installed (no python: exit 3)."""
    c = Ctx("extension-load-failure", host="rhel8-batch-07", os=("rhel", "8.6", "Red Hat Enterprise Linux"),
            pretty="Red Hat Enterprise Linux 8.6 (Ootpa)", py="3.6.8", osutil="RedhatOSModernUtil", service="waagent",
            systemd="systemd 239 (239-58.el8)", logrotate="logrotate 3.14.0", openssl="OpenSSL 1.1.1k  FIPS 25 Mar 2021",
            collect=T("2025-02-20T13:27:55"), ip="10.60.2.9",
            leases="var/lib/NetworkManager/dhclient-5fb06bd0-0bb0-7ffb-45f1-d6edd65f3e03-eth0.lease")
    r = c.rng
    log, X = LogFile(), ExtLog(c)
    old = "1.0.9210.0"
    c.snap_ver = old
    boot = T("2025-02-19T06:40:02")
    A = Agent(c, log, boot)
    daemon_start(A, 50)
    exthandler_start(A, 50, c.pid_ext)
    gs_started(A, 50, boot - timedelta(hours=9))
    gs_completed(A, 50, 120)
    heartbeats(A, boot, c.collect)
    h1 = backup_ok(A, X, T("2025-02-19T11:00:07"), 51, 63)
    new = "1.0.9225.0"
    HN = "%s-%s" % (SNAP, new)
    man = "https://%s.blob.core.windows.net/%s/%s__%s.zip" % (c.pir, c.pir_path, SNAP, new)

    def upgrade_attempt(t: datetime, inc: int, seq: int, download_ok: bool) -> None:
        B = A.fork(t)
        new_goal_state(B, inc)
        gs_started(B, inc, t - timedelta(seconds=31))
        s = B.t
        B.e(HN, "Target handler state: enabled [incarnation_%d]" % inc)
        B.e(HN, "[Enable] current handler state is: notinstalled")
        B.x("Downloading %s" % HN)
        B.wait(30)
        if not download_ok:
            storage_fail(B, man, "IOError [Errno 104] Connection reset by peer", 1, fetch_from=True)
            B.wait(2)
            B.event(SNAP, "Download", "Failed to download artifacts: [ExtensionDownloadError] Failed to download %s from all URIs. "
                    "Last error: [HttpError] Download failed both on the primary and fallback channels. Primary: [[HTTP Failed] GET %s "
                    "-- IOError [Errno 104] Connection reset by peer -- 1 attempts made] Fallback: [[HTTP Failed] [503: Service Unavailable] "
                    "b'']" % (HN, man))
            gs_completed(B, inc, int((B.t - s).total_seconds() * 1000))
            return
        B.x("Unzipping %s: /var/lib/waagent/%s__%s.zip" % (HN, SNAP, new))
        B.e(HN, "Initializing extension %s" % HN)
        B.e(HN, "Creating a placeholder status file /var/lib/waagent/%s/status/%d.status with status: transitioning" % (HN, seq))
        B.e(HN, "Update settings file: %d.settings" % seq)
        ex = agent_run_cmd(B, new, "install", seq, 0.4, rc=3)
        X.sh("python version unknown", ex + timedelta(seconds=0.2))
        B.event(SNAP, "Install", "[ExtensionOperationError] Non-zero exit code: 3, /var/lib/waagent/%s/main/handle.sh install\n"
                "[stdout]\n\n\n[stderr]\n" % HN)
        gs_completed(B, inc, int((B.t - s).total_seconds() * 1000))

    upgrade_attempt(T("2025-02-20T10:30:11"), 52, 64, download_ok=False)
    upgrade_attempt(T("2025-02-20T11:15:40"), 53, 65, download_ok=True)
    B = A.fork(T("2025-02-20T12:40:05"))
    new_goal_state(B, 54)
    gs_started(B, 54, B.t - timedelta(seconds=28))
    B.event(SNAP, "Update", "[ExtensionUpdateError] Downgrade not allowed: the goal state requests %s but %s is already present on "
            "the VM; ContinueOnUpdate: False" % (old, new))
    gs_completed(B, 54, 214)
    upgrade_attempt(T("2025-02-20T13:05:18"), 55, 66, download_ok=True)
    # old handler: last good backup; new handler: never installed
    modern_state(c, h1, history=[h1], ws=waagent_status(
        c, c.collect - timedelta(seconds=5), {"version": new, "status": "NotReady", "code": 1007, "seq": 66, "inc": 55,
        "message": "Non-zero exit code: 3, /var/lib/waagent/%s/main/handle.sh install" % HN}, None))
    task = r.guid()
    c.snap_ver = new
    handler_files(c, new, 66, task, T("2025-02-20T13:04:49"), json.dumps([{
        "version": 1.0, "timestampUTC": "2025-02-20T13:05:19Z", "status": {
            "name": SNAP, "operation": "Enabling Extension", "status": "transitioning", "code": 0,
            "formattedMessage": {"lang": "en-US", "message": "Install/Enable is in progress."}}}]),
        state="NotInstalled", hstatus={"name": SNAP, "version": new, "status": "NotReady", "code": 1007,
        "message": "Non-zero exit code: 3, /var/lib/waagent/%s/main/handle.sh install" % HN,
        "supports_multi_config": False, "extension_status": None})
    c.snap_ver = old
    finish(c, log, X)
    return c


def b_wireserver() -> Ctx:
    c = Ctx("wireserver-unreachable", host="lnx-k8s-node-5", os=("ubuntu", "22.04", "Ubuntu"), pretty="Ubuntu 22.04.5 LTS",
            py="3.10.12", systemd="systemd 249 (249.11-0ubuntu3.12)", logrotate="logrotate 3.19.0",
            openssl="OpenSSL 3.0.2 15 Mar 2022", collect=T("2025-03-11T16:20:05"), ip="10.240.0.35")
    log, X = LogFile(), ExtLog(c)
    boot = T("2025-03-10T08:15:40")
    A = Agent(c, log, boot)
    daemon_start(A, 70)
    exthandler_start(A, 70, c.pid_ext, cgroups=False)
    gs_started(A, 70, boot - timedelta(hours=1))
    gs_completed(A, 70, 77)
    heartbeats(A, boot, c.collect)
    dhcp_not_running(A, [boot + timedelta(seconds=36), T("2025-03-11T12:46:58")])
    h1 = backup_ok(A, X, T("2025-03-10T14:00:10"), 71, 30)
    gs_url = "http://%s/machine/?comp=goalstate" % WIRE
    err = "[ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET %s -- IOError timed out -- 6 attempts made" % gs_url
    t = T("2025-03-11T12:47:31")
    for _ in range(3):
        B = A.fork(t)
        B.x("Error fetching the goal state: %s" % err, "ERROR")
        t += timedelta(seconds=197)
    A.fork(T("2025-03-11T13:40:06")).x("Fetching the goal state is still failing: %s" % err, "ERROR")
    for t in ("2025-03-11T12:52:03", "2025-03-11T13:52:05", "2025-03-11T14:52:09", "2025-03-11T15:52:12"):
        A.fork(T(t)).x("Error in SendHostPluginHeartbeat: [HttpError] [HTTP Failed] GET http://%s:32526/health -- IOError timed out "
                       "-- 1 attempts made --- [NOTE: Will not log the same error for the next hour]" % WIRE, "WARNING",
                       thread="MonitorHandler")
    A.fork(T("2025-03-11T13:02:44")).x("HealthService: could not report observations: [HttpError] [HTTP Failed] POST "
                                       "http://%s:80/HealthService -- IOError timed out -- 6 attempts made" % WIRE, "WARNING",
                                       thread="MonitorHandler")
    A.fork(T("2025-03-11T13:03:10")).event("WALinuxAgent", "ReportStatusExtended",
        "Failed to report vm agent status for more than 0:15:00")
    A.fork(T("2025-03-11T13:48:21")).event("WALinuxAgent", "ReportEventErrors",
        "DroppedEventsCount: 7\nReasons (first 5 errors): [ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] POST "
        "http://%s/machine?comp=telemetrydata -- IOError timed out -- 6 attempts made: Traceback (most recent call last):\n"
        "  File \"bin/WALinuxAgent-%s-py3.10.egg/azurelinuxagent/common/protocol/wire.py\", line 1140, in _send_event\n"
        "    raise ProtocolError(\"[Wireserver Exception] {0}\".format(ustr(e)))" % (WIRE, c.agent_ver), thread="SendTelemetryHandler")
    modern_state(c, h1, history=[h1])
    finish(c, log, X)
    return c


def b_crash_loop() -> Ctx:
    c = Ctx("agent-crash-loop", host="lnx-api-009", os=("ubuntu", "20.04", "Ubuntu"), pretty="Ubuntu 20.04.6 LTS",
            agent="2.10.0.8", collect=T("2025-04-02T07:58:40"), ip="10.12.0.6")
    r = c.rng
    log, X = LogFile(), ExtLog(c)
    boot = T("2025-04-01T06:31:20")
    A = Agent(c, log, boot)
    daemon_start(A, 11)
    exthandler_start(A, 11, c.pid_ext)
    gs_started(A, 11, boot - timedelta(hours=3))
    gs_completed(A, 11, 99)
    upd = T("2025-04-02T05:12:44")
    heartbeats(A, boot, upd)
    h1 = backup_ok(A, X, T("2025-04-01T18:00:06"), 12, 5)
    U = A.fork(T("2025-04-02T01:12:40"))
    U.x("Self-update discovered new Normal upgrade WALinuxAgent-2.11.1.12; Will upgrade on or after 2025-04-02 05:12:40.311274")
    U.at(upd)
    U.x("Self-update is ready to upgrade the new agent: 2.11.1.12 now before processing the goal state: incarnation_12")
    U.x("Agent WALinuxAgent-2.11.1.12 was previously downloaded - skipping download")
    U.x("Current Agent 2.10.0.8 completed all update checks, exiting current process to upgrade to the new Agent version 2.11.1.12")
    new = "2.11.1.12"
    cmd = "python3 -u bin/WALinuxAgent-%s-py3.8.egg -run-exthandlers" % new
    D = A.fork(upd + timedelta(seconds=1.4))
    for attempt in range(4):
        D.d("Determined Agent WALinuxAgent-%s to be the latest agent" % new)
        D.wait(1.1)
        D.x("Azure Linux Agent (Goal State Agent version %s)" % new)
        D.x("OS: ubuntu 20.04")
        D.x("Python: %s" % c.py)
        if attempt == 0:
            D.x("Agent did not terminate cleanly: [WALinuxAgent-2.10.0.8] [Agent WALinuxAgent-2.10.0.8 exited to update]")
        D.x("WALinuxAgent-%s running as process %d" % (new, r.randrange(20000, 30000)))
        D.wait(2.2)
        if attempt == 3:
            D.d("Agent WALinuxAgent-%s launched with command '%s' failed with exception: \n" % (new, cmd), "WARNING")
            D.event("WALinuxAgent", "Enable", "Agent WALinuxAgent-%s launched with command '%s' failed with exception: "
                    "Agent WALinuxAgent-%s restarted more than 3 times in 300 seconds" % (new, cmd, new), proc="d")
            D.d("Agent WALinuxAgent-%s is permanently blacklisted" % new, "WARNING")
            break
        D.x("Agent WALinuxAgent-%s failed with exception: 'NoneType' object is not subscriptable" % new, "WARNING")
        D.x("'NoneType' object is not subscriptable\nTraceback (most recent call last):\n"
            "  File \"bin/WALinuxAgent-%s-py3.8.egg/azurelinuxagent/ga/update.py\", line 376, in run\n"
            "    self._initialize_goal_state(protocol)\n"
            "  File \"bin/WALinuxAgent-%s-py3.8.egg/azurelinuxagent/ga/update.py\", line 468, in _initialize_goal_state\n"
            "    self._goal_state.extensions_goal_state.extensions[0]\n"
            "TypeError: 'NoneType' object is not subscriptable" % (new, new), "WARNING")
        D.wait(0.8)
        D.d("Agent WALinuxAgent-%s launched with command '%s' failed with return code: 1" % (new, cmd), "WARNING")
        D.wait(r.uniform(20, 45))
    D.wait(2)
    D.d("Determined Agent WALinuxAgent-2.10.0.8 to be the latest agent")
    E = D.fork(D.t)
    exthandler_start(E, 12, r.randrange(30000, 32000), first_boot=False)
    E.x("Agent did not terminate cleanly: [WALinuxAgent-%s] [Agent WALinuxAgent-%s failed with exception: 'NoneType' object is "
        "not subscriptable]" % (new, new))
    E.x("Agent WALinuxAgent-%s is permanently blacklisted" % new, "WARNING")
    heartbeats(A, E.t, c.collect)
    h2 = backup_ok(A, X, T("2025-04-02T06:00:11"), 13, 6)
    c.put_json("var/lib/waagent/WALinuxAgent-%s/error.json" % new, {
        "last_failure": round(D.t.timestamp(), 6), "failure_count": 3, "was_fatal": True,
        "reason": "Agent WALinuxAgent-%s restarted more than 3 times in 300 seconds" % new})
    modern_state(c, h2, history=[dict(h1, zip=True), h2])
    finish(c, log, X)
    return c


def b_ext_disabled() -> Ctx:
    c = Ctx("extensions-disabled", host="deb11-files-04", os=("debian", "11", "Debian"), pretty="Debian GNU/Linux 11 (bullseye)",
            py="3.9.2", osutil="DebianOSModernUtil", systemd="systemd 247 (247.3-7+deb11u5)", logrotate="logrotate 3.18.0",
            openssl="OpenSSL 1.1.1w  11 Sep 2023", collect=T("2025-05-06T09:33:12"), ip="10.30.5.11")
    log, X = LogFile(), ExtLog(c)
    boot = T("2025-05-04T17:22:09")
    A = Agent(c, log, boot)
    daemon_start(A, 3)
    exthandler_start(A, 3, c.pid_ext)
    gs_started(A, 3, boot - timedelta(hours=26))
    gs_completed(A, 3, 140)
    change = T("2025-05-06T03:10:26")
    heartbeats(A, boot, change)
    h1 = backup_ok(A, X, T("2025-05-05T04:00:05"), 4, 12)
    R = A.fork(change)
    R.d("Agent WALinuxAgent-%s forwarding signal 15 to WALinuxAgent-%s\n" % (c.daemon_ver, c.agent_ver))
    R.wait(3)
    daemon_start(R, 4)
    exthandler_start(R, 4, c.pid_ext + 4210, first_boot=False, extensions_enabled=False, period=300)
    heartbeats(A, R.t, c.collect)
    msg = ("Extension '%s' will not be processed since extension processing is disabled. To enable extension processing, "
           "set Extensions.Enabled=y in '/etc/waagent.conf'" % SNAP)
    for t, inc in (("2025-05-06T04:00:31", 5), ("2025-05-06T07:02:36", 6)):
        B = A.fork(T(t))
        new_goal_state(B, inc)
        B.event(SNAP, "ExtensionProcessing", msg)
    h2 = dict(h1, inc=6, seq=13, processed=T("2025-05-06T07:02:36"), created=T("2025-05-06T07:02:10"), task=c.rng.guid())
    modern_state(c, h1, history=[h1, h2], ws=waagent_status(
        c, c.collect - timedelta(seconds=40), {"status": "NotReady", "code": 1009, "message": msg, "seq": 13, "inc": 6},
        "error", 1009, msg))
    finish(c, log, X, conf={"Extensions.Enabled": "n"})
    return c


def ext_fsfreeze_fail(X: ExtLog, seq: int, task: str, mounts: list[str]) -> dict:
    c = X.ctx
    start = X.t
    ext_preamble(X, seq, task)
    ext_daemon_checks(X)
    X.wait(3.1)
    X.a("PreSnapshot: Status Code: 200")
    X.a("Taking Snapshot through Host")
    ext_freeze_begin(X, mounts)
    buf = ["================== Logs during Freeze Start =============="]
    buf.append(X.dline("Info", "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile file opened Sucessfully"))
    buf.append(X.dline("Info", "Aquiring lock succeeded"))
    X.wait(2.2)
    b0 = X.t
    buf.append(X.dline("Info", "****** 1. Starting Freeze Binary"))
    X.wait(0.7)
    buf.append(X.dline("Error", "freeze failed for some mount"))
    buf.append(X.dline("Info", "============== Binary output traces start ================= "))
    for m in ["****** 2. Binary Freeze Started", "Freezing: /data", "Failed to FIFREEZE: /data with error message: Input/output error",
              "Thawing: /"]:
        buf.append(X.dline("Info", "%s %s" % (b0.strftime("%Y-%m-%d %H:%M:%S"), m)))
    buf.append(X.dline("Info", "============== Binary output traces end ================= "))
    buf.append(X.dline("Error", "T:S Enable failed with error: freeze failed for some mount StatusCode.FailedRetryableFsFreezeFailed,"))
    X.wait(1.5)
    X.a("\n".join(buf))  # flushed by commit() at the end of the run: no "Freeze End" marker
    X.a("Enable,error,121,T:S Enable failed with error: freeze failed for some mount,False")
    tele = [("FailedRetryableFsFreezeFailed", "extErrorCode"), ("backupHostService", "snapshotCreator"),
            ("200", "hostStatusCodePreSnapshot")]
    return dict(ts=X.t, code="121", inner="error", msgstr="snapshotCreator=backupHostService, hostStatusCodePreSnapshot=200, ",
                tele=tele, snaps=None, health=(128, 121), consistency=0, task=task, start=start)


def b_fsfreeze() -> Ctx:
    c = Ctx("snapshot-fsfreeze-failed", host="rhel7-db-13", os=("rhel", "7.9", "Red Hat Enterprise Linux Server"),
            pretty="Red Hat Enterprise Linux Server 7.9 (Maipo)", py="3.6.8", osutil="RedhatOSUtil", service="waagent",
            systemd="systemd 219 (219-78.el7_9.9)", logrotate="logrotate 3.8.6", openssl="OpenSSL 1.0.2k-fips  26 Jan 2017",
            collect=T("2025-06-17T05:44:50"), ip="10.70.1.8", leases="var/lib/dhclient/dhclient-eth0.leases")
    log, X = LogFile(), ExtLog(c)
    boot = T("2025-06-15T22:03:10")
    A = Agent(c, log, boot)
    daemon_start(A, 60)
    exthandler_start(A, 60, c.pid_ext)
    gs_started(A, 60, boot - timedelta(hours=7))
    gs_completed(A, 60, 133)
    heartbeats(A, boot, c.collect)
    h1 = backup_ok(A, X, T("2025-06-16T04:30:08"), 61, 140)
    h2 = backup_with(A, X, T("2025-06-17T04:30:06"), 62, 141, ext_fsfreeze_fail)
    modern_state(c, h2, history=[h1, h2])
    finish(c, log, X)
    return c


def b_proxy() -> Ctx:
    c = Ctx("proxy-misconfigured", host="lnx-dmz-web-3", os=("ubuntu", "22.04", "Ubuntu"), pretty="Ubuntu 22.04.5 LTS",
            py="3.10.12", agent="2.10.0.8", systemd="systemd 249 (249.11-0ubuntu3.12)", logrotate="logrotate 3.19.0",
            openssl="OpenSSL 3.0.2 15 Mar 2022", collect=T("2025-07-22T15:10:31"), ip="10.50.2.17")
    log, X = LogFile(), ExtLog(c)
    boot = T("2025-07-22T12:02:48")
    A = Agent(c, log, boot)
    daemon_start(A, 90)
    exthandler_start(A, 90, c.pid_ext, cgroups=False)
    gs_started(A, 90, boot - timedelta(days=2))
    gs_completed(A, 90, 88)
    heartbeats(A, boot, c.collect)
    dhcp_not_running(A, [boot + timedelta(seconds=35)])
    proxy_err = "IOError Tunnel connection failed: 407 Proxy Authentication Required"
    man = "https://%s.blob.core.windows.net/%s/Microsoft.OSTCLinuxAgent_Prod_%s_manifest.xml" % (c.pir, c.pir_path, c.region)
    pkg = "https://%s.blob.core.windows.net/%s/Microsoft.OSTCLinuxAgent__Prod__2.11.1.12" % (c.pir, c.pir_path)
    for t in ("2025-07-22T12:03:02", "2025-07-22T13:03:05", "2025-07-22T14:03:09"):
        B = A.fork(T(t))
        B.x("Downloading agent manifest")
        storage_fail(B, man, proxy_err, 1, fetch_from=True)
        B.x("Default channel changed to HostGAPlugin channel.")
        B.x("Self-update discovered new Normal upgrade WALinuxAgent-2.11.1.12; Will upgrade on or after %s" % (
            (T(t) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.") + "%06d" % c.rng.randrange(10**6)))
        B.x("Downloading WALinuxAgent-2.11.1.12")
        B.wait(1)
        B.x("[SelfUpdate]Unable to update Agent: [HttpError] Download failed both on the primary and fallback channels. Primary: "
            "[[HTTP Failed] GET %s -- %s -- 1 attempts made] Fallback: [[HTTP Failed] [502: Bad Gateway] b'']" % (pkg, proxy_err),
            "WARNING")
    h1 = backup_with(A, X, T("2025-07-22T14:30:07"), 91, 22, ext_nonet)
    modern_state(c, h1, history=[h1])
    finish(c, log, X, conf={"HttpProxy.Host": "10.50.1.10", "HttpProxy.Port": "3128"})
    return c


BUNDLES = [
    ("healthy", b_healthy, "", []),
    ("no-internet-access", b_no_internet, "no-internet-access", ["snapshot-status-unavailable"]),
    ("agent-outdated", b_agent_outdated, "agent-outdated", []),
    ("snapshot-status-unavailable", b_snapshot_status, "snapshot-status-unavailable", ["cgroup-limits"]),
    ("dhcp-245-missing", b_dhcp_245, "dhcp-245-missing", ["wireserver-unreachable", "agent-not-running"]),
    ("extension-load-failure", b_extension_load, "extension-load-failure", ["extension-operation-failed"]),
    ("wireserver-unreachable", b_wireserver, "wireserver-unreachable", ["goal-state-http-error", "snapshot-status-unavailable"]),
    ("agent-crash-loop", b_crash_loop, "agent-crash-loop", []),
    ("extensions-disabled", b_ext_disabled, "extensions-disabled", []),
    ("snapshot-fsfreeze-failed", b_fsfreeze, "snapshot-fsfreeze-failed", []),
    ("proxy-misconfigured", b_proxy, "proxy-misconfigured", ["no-internet-access"]),
]


def expected_tsv() -> str:
    rows = ["# name\texpected top cause (empty: healthy)\tother acceptable causes (comma list)"]
    rows += ["%s\t%s\t%s" % (n, top, ",".join(o)) for n, _f, top, o in BUNDLES]
    return "\n".join(rows) + "\n"


def generate(out: Path) -> list[Path]:
    """Write every bundle, the zip, the tar.gz and EXPECTED.tsv under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn, _top, _other in BUNDLES:
        c = fn()
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        for rel, data in sorted(c.files.items()):
            p = target / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        written.append(target)
        if name == ZIP_SAMPLE:
            (out / (name + ".zip")).write_bytes(make_zip(c.files, c.collect, collector_order(list(c.files))))
            written.append(out / (name + ".zip"))
        if name == TAR_SAMPLE:
            (out / (name + ".tar.gz")).write_bytes(make_targz(c.files, TAR_LEAD, c.collect))
            written.append(out / (name + ".tar.gz"))
    (out / "EXPECTED.tsv").write_bytes(expected_tsv().encode("ascii"))
    written.append(out / "EXPECTED.tsv")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output folder (default: the samples/ folder holding this script)")
    args = ap.parse_args(argv)
    for p in generate(args.out):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
