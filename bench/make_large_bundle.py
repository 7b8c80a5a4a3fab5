#!/usr/bin/env python3
"""Generate a large, realistic log-collector bundle (unpacked folder) for benchmarks.

    python bench/make_large_bundle.py OUT_DIR [--lines 1000000] [--seed 1] [--force]

Deterministic (same seed and line count -> same bytes), stdlib only, fast (lines are built
with plain string formatting and written one rotated part at a time, in big chunks).

What it writes, in the layout of ``waagent -collect-logs``::

    OUT_DIR/results.txt
    OUT_DIR/etc/waagent.conf, etc/os-release, etc/hostname
    OUT_DIR/var/lib/dhcp/dhclient.eth0.leases
    OUT_DIR/var/log/waagent.log                          current part (plain text)
    OUT_DIR/var/log/waagent.log-YYYY-MM-DD-EPOCH.gz      rotated parts, ISO-era logrotate names
    OUT_DIR/var/log/waagent.log.N.gz                     the two oldest parts, legacy names
    OUT_DIR/var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/
        extension.log (format A with freeze blocks, a few MB), shell.log, CommandExecution.log
    OUT_DIR/var/log/azure/Microsoft.Azure.Extensions.CustomScript/CommandExecution.log

waagent.log mixes eras the way a real VM does: the daemon runs the distro's installed agent
(2.2.45, E2 lines ``YYYY/MM/DD HH:MM:SS.ffffff INFO Daemon ...``) while the ExtHandler runs
the auto-updated 2.15.0.1 (E4 lines ``YYYY-MM-DDTHH:MM:SS.ffffffZ INFO <thread> <prefix> ...``);
the two legacy parts were written while the ExtHandler was still 2.2.45 (E2 throughout).
About 3-5 % of the records are WARNING/ERROR. Every message is built from the templates in
shared/reference/agent-logs.md (§1.10, §2) and backup-extension.md (§1.4), with invented
values (GUIDs, host names, etags, times). Nothing is copied from real logs.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import time
from pathlib import Path

AGENT = "2.15.0.1"
DAEMON = "2.2.45"
WIRE = "168.63.129.16"
HGAP = WIRE + ":32526"
EGG = "bin/WALinuxAgent-%s-py3.12.egg" % AGENT
CHILD_CMD = "python3 -u %s -run-exthandlers" % EGG
START = 1760918400  # 2025-10-20T00:00:00Z
SPAN_S = 30 * 86400  # the rotated history covers about a month, whatever the size
PART_LINES = 135_000  # ~20 MB per rotated part, like logrotate's "size 20M"
SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
SNAP_VER = "1.0.9225.0"
SNAP_P = "[%s-1.0]" % SNAP  # HandlerEnvironment schema version, not the package version
LIB = "/var/lib/waagent"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# handler, version, enable command (relative), stdout generator key
HANDLERS = [
    ("Microsoft.Azure.Extensions.CustomScript", "2.1.10", "bin/custom-script-shim enable", "apt"),
    ("Microsoft.CPlat.Core.RunCommandLinux", "1.0.5", "bin/run-command-shim enable", "script"),
    (SNAP, SNAP_VER, "main/handle.sh enable", "snap"),
    ("Microsoft.Azure.Monitor.AzureMonitorLinuxAgent", "1.33.2", "./shim.sh -enable", "ama"),
]

APT_OUT = [
    "Hit:1 http://azure.archive.ubuntu.com/ubuntu jammy InRelease",
    "Get:2 http://azure.archive.ubuntu.com/ubuntu jammy-updates InRelease [128 kB]",
    "Get:3 http://azure.archive.ubuntu.com/ubuntu jammy-backports InRelease [127 kB]",
    "Get:4 http://azure.archive.ubuntu.com/ubuntu jammy-security InRelease [129 kB]",
    "Get:5 http://azure.archive.ubuntu.com/ubuntu jammy-updates/main amd64 Packages [2,318 kB]",
    "Fetched 2,702 kB in 1s (2,154 kB/s)",
    "Reading package lists...",
    "Building dependency tree...",
    "Reading state information...",
    "nginx is already the newest version (1.18.0-6ubuntu14.6).",
    "0 upgraded, 0 newly installed, 0 to remove and 17 not upgraded.",
    "+ systemctl restart nginx",
    "+ echo deployment finished",
    "deployment finished",
]
APT_ERR = [
    "WARNING: apt does not have a stable CLI interface. Use with caution in scripts.",
    "W: Some index files failed to download. They have been ignored, or old ones used instead.",
    "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 2875 (unattended-upgr)",
    "curl: (28) Connection timed out after 30001 milliseconds",
    "error: failed to fetch https://packages.contoso.example/repo/Release",
]
SCRIPT_OUT = [
    "Filesystem      Size  Used Avail Use% Mounted on",
    "/dev/root        29G  7.9G   21G  28% /",
    "tmpfs           3.9G     0  3.9G   0% /dev/shm",
    "/dev/sda15      105M  6.1M   99M   6% /boot/efi",
    "/dev/sdb1        16G   28K   15G   1% /mnt",
    "uptime: 10:42:17 up 12 days,  3:11,  0 users,  load average: 0.08, 0.03, 0.01",
    "service healthy",
]
AMA_OUT = [
    "AzureMonitorLinuxAgent:Enable invoked",
    "Starting AMA with mcs endpoint global.handler.control.monitor.azure.com",
    "Checking if systemd unit azuremonitoragent.service is active: active",
    "Checking if systemd unit azuremonitor-coreagent.service is active: active",
    "Enable succeeded",
]
SNAP_OUT = [
    "Sun Jan 14 22:16:40 UTC 2024- ConfigSequenceNumber from environment variable seqNo:25",
    "python3 path exists",
    "0 returned from handle.py",
]
OUTPUTS = {"apt": APT_OUT, "script": SCRIPT_OUT, "ama": AMA_OUT, "snap": SNAP_OUT}

TRACEBACK_GS = [
    "Traceback (most recent call last):",
    '  File "%s/WALinuxAgent-%s/%s/azurelinuxagent/ga/update.py", line 578, in _try_update_goal_state' % (LIB, AGENT, EGG.split("/")[1]),
    "    protocol.client.update_goal_state(silent=self._update_goal_state_error_count >= max_errors_to_log)",
    '  File "%s/WALinuxAgent-%s/%s/azurelinuxagent/common/protocol/wire.py", line 834, in update_goal_state' % (LIB, AGENT, EGG.split("/")[1]),
    "    self._goal_state.update(silent=silent)",
    '  File "%s/WALinuxAgent-%s/%s/azurelinuxagent/common/protocol/goal_state.py", line 221, in update' % (LIB, AGENT, EGG.split("/")[1]),
    "    xml_text = self._wire_client.fetch_config(uri, self._wire_client.get_header())",
    "azurelinuxagent.common.exception.ProtocolError: [ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET http://%s/machine/?comp=goalstate -- IOError [Errno 104] Connection reset by peer -- 6 attempts made" % WIRE,
]
FIREWALL_STATE = [
    "Chain OUTPUT (policy ACCEPT 104 packets, 43628 bytes)",
    "    pkts      bytes target     prot opt in     out     source               destination",
    "       0        0 ACCEPT     tcp  --  *      *       0.0.0.0/0            168.63.129.16        tcp dpt:53",
    "    2164   612355 ACCEPT     tcp  --  *      *       0.0.0.0/0            168.63.129.16        owner UID match 0",
    "       3      180 DROP       tcp  --  *      *       0.0.0.0/0            168.63.129.16        ctstate INVALID,NEW",
]
REGIONS = ("westeurope", "germanywestcentral", "eastus2", "northeurope", "uksouth")


class Clock:
    """Monotonic fake time with cached per-second header stamps (the hot path)."""

    __slots__ = ("t", "_sec", "_iso", "_e2")

    def __init__(self, start: float) -> None:
        self.t = start
        self._sec = -1
        self._iso = self._e2 = ""

    def _fill(self, s: int) -> None:
        tm = time.gmtime(s)
        self._sec = s
        self._iso = "%04d-%02d-%02dT%02d:%02d:%02d" % tm[:6]
        self._e2 = "%04d/%02d/%02d %02d:%02d:%02d" % tm[:6]

    def iso(self) -> str:
        t = self.t
        s = int(t)
        if s != self._sec:
            self._fill(s)
        return "%s.%06dZ" % (self._iso, int((t - s) * 1e6))

    def e2(self) -> str:
        t = self.t
        s = int(t)
        if s != self._sec:
            self._fill(s)
        return "%s.%06d" % (self._e2, int((t - s) * 1e6))


def iso_of(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


class AgentLog:
    """waagent.log writer: formats records per era, rotates into parts, writes each part."""

    def __init__(self, out: Path, rng: random.Random, target: int, part_lines: int) -> None:
        self.logdir = out / "var" / "log"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.rng = rng
        self.rand = rng.random
        self.clock = Clock(START)
        self.target = target
        self.part_lines = part_lines
        self.n_parts = max(1, -(-target // part_lines))  # ceil; the last is the plain file
        self.legacy_parts = 2 if self.n_parts >= 5 else 0
        self.part = 0
        self.legacy = self.legacy_parts > 0
        self.buf: list[str] = []
        self.total = 0
        self.levels = {"INFO": 0, "WARNING": 0, "ERROR": 0}
        self.files: list[dict] = []

    # -- record writers ------------------------------------------------------------------
    def tick(self, lo: float = 0.0003, hi: float = 0.02) -> None:
        self.clock.t += lo + self.rand() * (hi - lo)

    def x(self, level: str, msg: str, thread: str = "ExtHandler", prefix: str | None = "ExtHandler") -> None:
        """An ExtHandler-process record: E4 ``<ts> LEVEL <thread> [<prefix>] msg`` (E2 in legacy parts)."""
        self.clock.t += 0.0003 + self.rand() * 0.02
        self.levels[level] += 1
        if self.legacy:
            self.buf.append("%s %s %s %s" % (self.clock.e2(), level, prefix or "ExtHandler", msg))
        elif prefix is None:
            self.buf.append("%s %s %s %s" % (self.clock.iso(), level, thread, msg))
        else:
            self.buf.append("%s %s %s %s %s" % (self.clock.iso(), level, thread, prefix, msg))

    def d(self, level: str, msg: str) -> None:
        """A daemon record (installed 2.2.45: E2, local time = UTC on Azure images)."""
        self.clock.t += 0.0003 + self.rand() * 0.02
        self.levels[level] += 1
        self.buf.append("%s %s Daemon %s" % (self.clock.e2(), level, msg))

    def cont(self, lines) -> None:
        """Continuation lines of the previous record (no header)."""
        self.buf.extend(lines)

    def blank(self) -> None:
        """``logger.info('')``: a header-only record with a trailing space."""
        self.clock.t += 0.0001
        self.levels["INFO"] += 1
        if self.legacy:
            self.buf.append("%s INFO ExtHandler " % self.clock.e2())
        else:
            self.buf.append("%s INFO ExtHandler " % self.clock.iso())

    # -- rotation ------------------------------------------------------------------------
    def maybe_rotate(self) -> None:
        if len(self.buf) >= self.part_lines and self.part < self.n_parts - 1:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        data = ("\n".join(self.buf) + "\n").encode("ascii", "backslashreplace")
        lines = len(self.buf)
        if final:
            name = "waagent.log"
            (self.logdir / name).write_bytes(data)
        else:
            if self.part < self.legacy_parts:
                name = "waagent.log.%d.gz" % (self.legacy_parts - self.part)
            else:
                epoch = int(self.clock.t) + 1
                name = "waagent.log-%s-%d.gz" % (time.strftime("%Y-%m-%d", time.gmtime(epoch)), epoch)
            with open(self.logdir / name, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                    gz.write(data)
        self.files.append({"path": "var/log/" + name, "lines": lines, "bytes": len(data),
                           "disk_bytes": (self.logdir / name).stat().st_size})
        self.total += lines
        self.buf = []
        self.part += 1
        if self.legacy and self.part >= self.legacy_parts:
            self.legacy = False
            self.on_upgrade()

    def on_upgrade(self) -> None:  # replaced by the generator
        pass

    def close(self) -> None:
        self._flush(final=True)


class Generator:
    """Draws blocks of agent activity (goal states, heartbeats, failures, restarts)."""

    def __init__(self, out: Path, lines: int, seed: int, part_lines: int) -> None:
        self.rng = random.Random(seed)
        self.log = AgentLog(out, self.rng, lines, part_lines)
        self.log.on_upgrade = self.upgraded
        self.incarnation = 1
        self.etag = 15354895144685803481
        self.seq = {h[0]: 10 + i for i, h in enumerate(HANDLERS)}
        self.hb_counter = 0
        self.hb_next = START + 600
        self.lc_next = START + 1800
        self.pending: list[tuple[float, object]] = []
        self.gs_failing = False
        n_blocks_est = max(1000, lines // 7)
        self.mean_step = SPAN_S / n_blocks_est
        self.blocks = [
            (self.goal_state, 24), (self.telemetry_noise, 14), (self.cgroup_noise, 42),
            (self.firewall_ok, 5), (self.storage_fail, 2.4), (self.hgap_fail, 2.4),
            (self.imds_fail, 1.3), (self.healthservice_fail, 0.8), (self.vmsettings_error, 1.6),
            (self.wireserver_fail, 0.45), (self.dhcp_warn, 0.6), (self.status_fail, 0.5),
            (self.telemetry_dropped, 0.3), (self.daemon_restart, 0.12), (self.crash_loop, 0.06),
            (self.update_noise, 0.6),
        ]

    # -- helpers ---------------------------------------------------------------------------
    def guid(self, upper: bool = False) -> str:
        h = "%032x" % self.rng.getrandbits(128)
        g = "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
        return g.upper() if upper else g

    def hexid(self, n: int = 32) -> str:
        return "%0*x" % (n, self.rng.getrandbits(4 * n))

    def later(self, delay: float, fn) -> None:
        self.pending.append((self.log.clock.t + delay, fn))

    # -- blocks ----------------------------------------------------------------------------
    def goal_state(self) -> None:
        L, r = self.log, self.rng
        self.etag += r.randrange(10 ** 12, 10 ** 14)
        self.incarnation += 1 if r.random() < 0.3 else 0
        gsid = None
        if L.legacy:
            L.x("INFO", "Fetching new goal state [incarnation %d (new incarnation)]" % self.incarnation)
            L.x("INFO", "Fetch goal state completed")
        else:
            L.blank()
            if r.random() < 0.7:
                L.x("INFO", "Fetched new vmSettings [HostGAPlugin correlation ID: %s eTag: %d source: FastTrack]"
                    % (self.guid(), self.etag), prefix=None)
                gsid, channel, source = "etag_%d" % self.etag, "HostGAPlugin", "FastTrack"
            else:
                L.x("INFO", "Fetched a new incarnation for the WireServer goal state [incarnation %d]"
                    % self.incarnation, prefix=None)
                L.x("INFO", "Fetching full goal state from the WireServer [incarnation %d]" % self.incarnation,
                    prefix=None)
                L.x("INFO", "Fetch goal state from WireServer completed", prefix=None)
                gsid, channel, source = "incarnation_%d" % self.incarnation, "WireServer", "Fabric"
            L.x("INFO", "ProcessExtensionsGoalState started [%s channel: %s source: %s activity: %s "
                "correlation %s created: %s]" % (gsid, channel, source, self.guid(), self.guid(),
                                                 iso_of(L.clock.t - 3.4)))
            if r.random() < 0.3:
                L.x("INFO", "Downloading extension manifest")
        t0 = L.clock.t
        statuses = []
        for h in r.sample(HANDLERS, r.choice((1, 1, 1, 2, 2, 3))):
            statuses.append(self.enable(h, gsid))
        ms = int((L.clock.t - t0) * 1000) + r.randrange(200, 900)
        if L.legacy:
            L.x("INFO", "ProcessGoalState completed [incarnation %d; %d ms]" % (self.incarnation, ms))
            return
        L.x("INFO", "ProcessExtensionsGoalState completed [%s %d ms]" % (gsid, ms))
        L.cont([""])
        L.x("INFO", "Extension status: [%s]" % ", ".join("('%s', '%s')" % s for s in statuses))
        L.x("INFO", "All extensions in the goal state have reached a terminal state: [%s]"
            % ", ".join("('%s', '%s')" % s for s in statuses))

    def enable(self, h, gsid) -> tuple[str, str]:
        L, r = self.log, self.rng
        name, ver, cmd, kind = h
        p = "[%s-%s]" % (name, ver)
        self.seq[name] += 1
        seq = self.seq[name]
        full = "%s/%s-%s/%s" % (LIB, name, ver, cmd)
        if L.legacy:
            L.x("INFO", "Target handler state: enabled", prefix=p)
            L.x("INFO", "[Enable] current handler state is: enabled", prefix=p)
            L.x("INFO", "Update settings file: %d.settings" % seq, prefix=p)
            L.x("INFO", "Enable extension [%s]" % cmd, prefix=p)
        else:
            L.x("INFO", "Target handler state: enabled [%s]" % gsid, prefix=p)
            L.x("INFO", "[Enable] current handler state is: enabled", prefix=p)
            L.x("INFO", "Update settings file: %d.settings" % seq, prefix=p)
            L.x("INFO", "Enable extension: [%s]" % cmd, prefix=p)
            env = json.dumps({
                "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE": "NOT_RUN",
                "AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES": '[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]',
                "AZURE_GUEST_AGENT_EXTENSION_PATH": "%s/%s-%s" % (LIB, name, ver),
                "AZURE_GUEST_AGENT_EXTENSION_VERSION": ver,
                "AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS": WIRE,
                "ConfigSequenceNumber": str(seq)})
            L.x("INFO", "Executing command: %s with environment variables: %s" % (full, env), prefix=p)
            L.x("INFO", "[CGI] Started extension in unit 'enable_%s.scope'" % self.guid(), prefix=p)
        L.tick(0.5, 6.0)  # the command runs
        out = OUTPUTS[kind]
        k = r.randrange(1, min(5, len(out)) + 1)
        i = r.randrange(0, len(out) - k + 1)
        stdout = out[i:i + k]
        if r.random() < 0.05:  # the handler failed
            stderr = [r.choice(APT_ERR)]
            rc = r.choice((1, 1, 1, 2, 51, 126))
            ev = "Event: name=%s, op=Enable, message=[ExtensionOperationError] Non-zero exit code: %d, %s" % (name, rc, full)
            L.x("ERROR", ev)
            L.cont(["[stdout]"] + stdout + ["", "[stderr]"] + stderr[:-1] + [stderr[-1] + ", duration=0"])
            return (name, "error")
        if L.legacy:  # 2.2.45 logged the output only at VERBOSE
            return (name, "success")
        L.x("INFO", "Command: %s" % cmd, prefix=p)
        err = [r.choice(APT_ERR)] if kind == "apt" and r.random() < 0.4 else []
        L.cont(["[stdout]"] + stdout + ["[stderr]"] + err)
        if r.random() < 0.3:
            L.x("INFO", "Started tracking cpu cgroup /sys/fs/cgroup/azure.slice/azure-vmextensions.slice/"
                "azure-vmextensions-%s.slice" % name.replace("-", "\\x2d"))
        return (name, "success")

    def heartbeat(self) -> None:
        L = self.log
        self.hb_counter += 1
        if L.legacy:  # 2.2.45 has no [HEARTBEAT] line (2.2.49+)
            return
        L.x("INFO", "[HEARTBEAT] Agent WALinuxAgent-%s is running as the goal state agent [DEBUG "
            "HeartbeatCounter: %d;HeartbeatId: %s;UpdateGSErrors: %d;AutoUpdate: 1;UpdateMode: SelfUpdate;]"
            % (AGENT, self.hb_counter, self.guid(upper=True), 1 if self.gs_failing else 0))

    def log_collection(self) -> None:
        L, r = self.log, self.rng
        L.x("INFO", "Starting log collection...", thread="CollectLogsHandler")
        if not L.legacy:
            L.x("INFO", "Running log collector mode normal", thread="MainThread", prefix="LogCollector")
            L.tick(5, 30)
            L.x("INFO", "Log collection successfully completed. Archive can be found at %s/logcollector/logs.zip "
                "and detailed log output can be found at %s/logcollector/results.txt" % (LIB, LIB),
                thread="MainThread", prefix="LogCollector")
        size, ms = r.randrange(2_000_000, 9_000_000), r.randrange(4000, 30000)
        L.x("INFO", "Successfully collected logs. Archive size: %d b, elapsed time: %d ms." % (size, ms),
            thread="CollectLogsHandler")
        if r.random() < 0.04:
            L.x("WARNING", "Failed to upload logs. Error: [HttpError] [HTTP Failed] PUT http://%s/vmAgentLog -- "
                "IOError timed out -- 1 attempts made" % HGAP, thread="CollectLogsHandler")
        else:
            L.x("INFO", "Successfully uploaded logs.", thread="CollectLogsHandler")

    def telemetry_noise(self) -> None:
        L, r = self.log, self.rng
        h = r.choice(HANDLERS)
        L.x("INFO", "Collected %d events for extension: %s" % (r.randrange(1, 40), h[0]),
            thread="TelemetryEventsCollector")

    def cgroup_noise(self) -> None:
        L, r = self.log, self.rng
        h = r.choice(HANDLERS)
        unit = "azure-vmextensions-%s.slice" % h[0]
        c = r.random()
        if c < 0.5:
            L.x("INFO", "Stopped tracking cpu cgroup /sys/fs/cgroup/azure.slice/azure-vmextensions.slice/%s" % unit,
                thread="MonitorHandler")
        elif c < 0.8:
            L.x("INFO", "[CGI] Setting up the resource properties: {'CPUAccounting': 'yes', 'MemoryAccounting': "
                "'yes', 'CPUQuota': '5%%'} for %s" % unit)
        else:
            L.x("INFO", "[VmSettingsSummary] {\"requests\": %d, \"errors\": 0, \"newGoalStates\": %d, "
                "\"hostPluginVersion\": \"1.0.8.179\"}" % (r.randrange(500, 700), r.randrange(0, 5)))

    def firewall_ok(self) -> None:
        L = self.log
        L.x("INFO", "The firewall was setup successfully:", thread="EnvHandler")
        L.cont(FIREWALL_STATE)

    def update_noise(self) -> None:
        L, r = self.log, self.rng
        if L.legacy:
            L.x("INFO", "Checking for agent updates (family: Prod)")
            return
        L.x("INFO", "Self-update discovered new Normal upgrade WALinuxAgent-%s; Will upgrade on or after %s"
            % ("2.15.0.3", iso_of(L.clock.t + r.randrange(3600, 86400))))

    def storage_fail(self) -> None:
        L, r = self.log, self.rng
        url = ("https://zrdfepirv2%s%02dprdstr0%da.blob.core.windows.net/%s/Microsoft.CPlat.Core_RunCommandLinux_%s_manifest.xml"
               % (r.choice(("cbn", "db4", "am2", "ams")), r.randrange(1, 30), r.randrange(1, 5), self.hexid(),
                  r.choice(REGIONS)))
        if r.random() < 0.5:
            L.x("WARNING", "Fetch failed: [HttpError] [HTTP Failed] GET %s -- IOError ('The read operation timed out',) "
                "-- 1 attempts made" % url)
        else:
            sas = "https://md-%s.z%d.blob.storage.azure.net/$system/vm-app-%02d.%s.vmSettings?sv=2018-03-28&sr=b&sk=system-1&sig=FAKESIGNATURE%s%%3D&se=9999-01-01T00%%3a00%%3a00Z&sp=r" % (
                self.hexid(12), r.randrange(10, 40), r.randrange(1, 40), self.guid(), self.hexid(30))
            L.x("WARNING", "Fetch failed: [HttpError] [HTTP Failed] GET %s -- IOError timed out -- 1 attempts made" % sas)
        L.x("WARNING", "Download failed, switching to host plugin")
        L.x("INFO", "Default channel changed to HostGAPlugin channel.")

    def hgap_fail(self) -> None:
        self.log.x("WARNING", "Error in SendHostPluginHeartbeat: [HttpError] [HTTP Failed] GET http://%s/health -- "
                   "IOError timed out -- 1 attempts made --- [NOTE: Will not log the same error for the next hour]"
                   % HGAP, thread="MonitorHandler")

    def imds_fail(self) -> None:
        self.log.x("WARNING", "[PERIODIC] [IMDS_CONNECTION_ERROR] Unable to connect to IMDS endpoint 169.254.169.254",
                   thread="MonitorHandler")

    def healthservice_fail(self) -> None:
        self.log.x("WARNING", "HealthService: could not report observations: [HttpError] [HTTP Failed] POST "
                   "http://%s:80/HealthService -- IOError timed out -- 6 attempts made" % WIRE,
                   thread="MonitorHandler")

    def vmsettings_error(self) -> None:
        L, r = self.log, self.rng
        if r.random() < 0.5:
            why = "Timeout"
        else:
            why = ("[Internal error in HostGAPlugin] [HTTP Failed] [502: Bad Gateway] b'{  \"errorCode\": "
                   "\"VMArtifactsProfileBlobContentNotFound\",  \"message\": \"VM artifacts profile blob has no content "
                   "in it.\",  \"details\": \"\"}'")
        L.x("WARNING", "An error occurred while retrieving the goal state: [ProtocolError] GET vmSettings "
            "[correlation ID: %s eTag: %d]: %s" % (self.guid(), self.etag, why))

    def wireserver_fail(self) -> None:
        L, r = self.log, self.rng
        if self.gs_failing:
            L.x("ERROR", "Fetching the goal state is still failing: [ProtocolError] [Wireserver Exception] [HttpError] "
                "[HTTP Failed] GET http://%s/machine/?comp=goalstate -- IOError timed out -- 6 attempts made" % WIRE)
            return
        self.gs_failing = True
        if L.legacy:
            L.x("ERROR", "ProtocolError processing goal state, giving up [[ProtocolError] [Wireserver Exception] "
                "[HttpError] [HTTP Failed] GET http://%s/machine/?comp=goalstate -- IOError timed out -- 6 attempts made]"
                % WIRE)
        else:
            L.x("ERROR", "Error fetching the goal state: [ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] "
                "GET http://%s/machine/?comp=goalstate -- IOError [Errno 104] Connection reset by peer -- 6 attempts made"
                % WIRE)
            L.cont(TRACEBACK_GS)
        self.later(r.randrange(60, 1800), self.gs_recovered)

    def gs_recovered(self) -> None:
        L = self.log
        self.gs_failing = False
        if L.legacy:
            return
        L.x("INFO", "Fetching the goal state recovered from previous errors. Fetched etag_%d (certificates: 0)" % self.etag)

    def dhcp_warn(self) -> None:
        L = self.log
        if self.rng.random() < 0.6:
            L.x("WARNING", "Dhcp client is not running.", thread="EnvHandler")
        else:
            L.x("INFO", "EnvMonitor: Detected dhcp client restart. Restoring routing table.", thread="EnvHandler")

    def status_fail(self) -> None:
        L = self.log
        L.x("ERROR", "Event: name=WALinuxAgent, op=ReportStatus, message=Failed to report vm agent status: "
            "[ProtocolError] Failed to upload status blob via either channel, duration=0")
        L.x("WARNING", "Failed to report status: [HttpError] [HTTP Failed] PUT http://%s/status -- IOError timed out "
            "-- 1 attempts made" % HGAP)

    def telemetry_dropped(self) -> None:
        L = self.log
        if L.legacy:
            return
        L.x("ERROR", "Event: name=WALinuxAgent, op=ReportEventErrors, message=DroppedEventsCount: %d"
            % self.rng.randrange(1, 30), thread="SendTelemetryHandler")
        L.cont(["Reasons (first 5 errors): [ProtocolError] [Wireserver Exception] [ProtocolError] [Wireserver Failed] "
                "URI http://%s/machine?comp=telemetrydata  [HTTP Failed] Status Code 400: Traceback (most recent call last):" % WIRE,
                '  File "azurelinuxagent/common/protocol/wire.py", line 1099, in _send_encoded_event',
                "    raise ProtocolError(\"Failed to send events:{0}\".format(msg))",
                ", duration=0"])

    def exthandler_banner(self) -> None:
        L, r = self.log, self.rng
        if L.legacy:
            L.x("INFO", "Agent WALinuxAgent-%s is running as the goal state agent" % DAEMON)
            L.x("INFO", "Wire server endpoint:%s" % WIRE)
            L.x("INFO", "WALinuxAgent-%s running as process %d" % (DAEMON, r.randrange(900, 40000)))
            L.x("INFO", "Start env monitor service.")
            return
        L.x("INFO", "Azure Linux Agent (Goal State Agent version %s)" % AGENT)
        L.x("INFO", "OS: ubuntu 22.04")
        L.x("INFO", "Python: 3.10.12")
        L.x("INFO", "CPU Arch: x86_64")
        L.x("INFO", "Distro: ubuntu-22.04; OSUtil: Ubuntu18OSUtil; AgentService: walinuxagent; Python: 3.10.12; "
            "Arch: x86_64; systemd: True; systemd_version: systemd 249 (249.11-0ubuntu3.12); LISDrivers: Absent; "
            "logrotate: logrotate 3.19.0;")
        L.x("INFO", "WireServer endpoint %s read from file" % WIRE)
        L.x("INFO", "Wire server endpoint:%s" % WIRE)
        L.x("INFO", "Initializing the goal state...")
        L.x("INFO", "Fetched a new incarnation for the WireServer goal state [incarnation %d]" % self.incarnation,
            prefix=None)
        L.x("INFO", "Goal state initialization completed.")
        L.x("INFO", "WALinuxAgent-%s running as process %d" % (AGENT, r.randrange(900, 40000)))
        L.x("INFO", "[CGI] Using cgroup v2 for resource enforcement and monitoring")
        L.x("INFO", "Checking state of the firewall")
        L.x("INFO", "The firewall rules for Azure Fabric are already setup:")
        L.cont(FIREWALL_STATE)
        L.x("INFO", "Goal State Period: 6 sec. This indicates how often the agent checks for new goal states "
            "and reports status.")

    def daemon_banner(self) -> None:
        L = self.log
        L.d("INFO", "Azure Linux Agent Version:%s" % DAEMON)
        L.d("INFO", "OS: ubuntu 22.04")
        L.d("INFO", "Python: 3.10.12")
        L.d("INFO", "Run daemon")
        L.d("INFO", "No RDMA handler exists for distro='Ubuntu' version='22.04'")
        L.d("INFO", "Clean protocol and wireserver endpoint")
        L.d("INFO", "Detect protocol endpoints")
        L.d("INFO", "WireServer endpoint %s read from file" % WIRE)
        L.d("INFO", "Wire server endpoint:%s" % WIRE)
        L.d("INFO", "Fabric preferred wire protocol version:2015-04-05")
        L.d("INFO", "Wire protocol version:2012-11-30")
        L.d("INFO", "Server preferred version:2015-04-05")
        L.d("INFO", "Provisioning already completed, skipping.")
        L.d("INFO", "RDMA capabilities are not enabled, skipping")
        if L.legacy:
            L.d("INFO", "Installed Agent WALinuxAgent-%s is the most current agent" % DAEMON)
        else:
            L.d("INFO", "Determined Agent WALinuxAgent-%s to be the latest agent" % AGENT)

    def daemon_restart(self) -> None:
        L, r = self.log, self.rng
        child = DAEMON if L.legacy else AGENT
        if r.random() < 0.5:
            L.d("INFO", "Agent WALinuxAgent-%s forwarding signal 15 to WALinuxAgent-%s" % (DAEMON, child))
            L.cont([""])
        L.tick(20, 90)  # reboot
        self.daemon_banner()
        if r.random() < 0.3 and not L.legacy:
            L.x("INFO", "Agent did not terminate cleanly: [WALinuxAgent-%s] [Agent WALinuxAgent-%s is reached memory "
                "limit -- exiting]" % (AGENT, AGENT))
        self.exthandler_banner()
        self.later(900 + r.random() * 5, lambda: self.launched_ok(child))

    def launched_ok(self, child: str) -> None:
        cmd = CHILD_CMD if child == AGENT else "python3 -u /usr/sbin/waagent -run-exthandlers"
        self.log.d("INFO", "Agent WALinuxAgent-%s launched with command '%s' is successfully running" % (child, cmd))

    def crash_loop(self) -> None:
        L, r = self.log, self.rng
        if L.legacy:
            return
        for attempt in range(3):
            self.exthandler_banner()
            L.x("WARNING", "Agent WALinuxAgent-%s failed with exception: [ProtocolError] [Wireserver Exception] "
                "[HttpError] [HTTP Failed] GET http://%s/machine/?comp=goalstate -- IOError timed out -- 6 attempts made"
                % (AGENT, WIRE))
            L.x("WARNING", "Traceback (most recent call last):")
            L.cont(TRACEBACK_GS[1:])
            L.tick(1, 3)
            L.d("WARNING", "Agent WALinuxAgent-%s launched with command '%s' failed with return code: 1"
                % (AGENT, CHILD_CMD))
            L.d("ERROR", "Event: name=WALinuxAgent, op=Enable, message=Agent WALinuxAgent-%s launched with command "
                "'%s' failed with return code: 1, duration=0" % (AGENT, CHILD_CMD))
            L.tick(10, 40)
            L.d("INFO", "Determined Agent WALinuxAgent-%s to be the latest agent" % AGENT)
        L.d("WARNING", "Agent WALinuxAgent-%s launched with command '%s' failed with exception: " % (AGENT, CHILD_CMD))
        L.cont([""])
        L.d("ERROR", "Event: name=WALinuxAgent, op=Enable, message=Agent WALinuxAgent-%s restarted more than 3 times "
            "in 300 seconds, duration=0" % AGENT)
        L.d("WARNING", "Agent WALinuxAgent-%s is permanently blacklisted" % AGENT)
        L.d("INFO", "Installed Agent WALinuxAgent-%s is the most current agent" % DAEMON)
        # the installed agent runs the ExtHandler for a while: E2 lines from both processes
        L.legacy, was = True, L.legacy
        self.exthandler_banner()
        for _ in range(r.randrange(3, 8)):
            L.tick(5, 60)
            self.goal_state()
        L.legacy = was
        self.later(900, lambda: self.launched_ok(DAEMON))

    def upgraded(self) -> None:
        """Called when the legacy parts are done: the auto-updated agent takes over."""
        L = self.log
        L.x("INFO", "Agent WALinuxAgent-%s discovered update WALinuxAgent-%s -- exiting" % (DAEMON, AGENT))
        L.tick(1, 5)
        L.d("INFO", "Determined Agent WALinuxAgent-%s to be the latest agent" % AGENT)
        self.exthandler_banner()

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> None:
        L, r = self.log, self.rng
        fns = [b[0] for b in self.blocks]
        weights = [b[1] for b in self.blocks]
        self.daemon_banner()
        self.exthandler_banner()
        mean = self.mean_step
        while L.total + len(L.buf) < L.target:
            for fn in r.choices(fns, weights, k=256):
                L.clock.t += r.expovariate(1.0 / mean)
                t = L.clock.t
                if self.pending:
                    due = [p for p in self.pending if p[0] <= t]
                    if due:
                        self.pending = [p for p in self.pending if p[0] > t]
                        for _, f in due:
                            f()
                if t >= self.hb_next:
                    self.hb_next = t + 1800 + r.random() * 2
                    self.heartbeat()
                if t >= self.lc_next:
                    self.lc_next = t + 3600 + r.random() * 60
                    self.log_collection()
                fn()
                L.maybe_rotate()
                if L.total + len(L.buf) >= L.target:
                    break
        L.close()


# --- the other files of the bundle ----------------------------------------------------------

def write_vmsnapshot(out: Path, rng: random.Random, target_bytes: int) -> dict:
    """extension.log (format A + freeze blocks D + binary output E), shell.log, CommandExecution.log."""
    d = out / "var" / "log" / "azure" / SNAP
    d.mkdir(parents=True, exist_ok=True)
    ext: list[str] = []
    shell: list[str] = []
    cexec: list[str] = []
    t = float(START)
    size = 0
    seq = 25
    runs = 0
    P = SNAP_P
    vdir = "%s/%s-%s" % (LIB, SNAP, SNAP_VER)

    def a(ts: float, msg: str) -> None:  # format A: str(utcnow()) + prefix + msg
        nonlocal size
        s = int(ts)
        us = int((ts - s) * 1e6)
        head = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)) + (".%06d" % us if us else "")
        line = "%s %s%s" % (head, P, msg)
        ext.append(line)
        size += len(line) + 1

    def dfmt(ts: float, level: str, msg: str) -> str:  # format D (freeze buffer)
        s = int(ts)
        return "%s.%06d  %s  %s " % (time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(s)), int((ts - s) * 1e6), level, msg)

    def shell_ts(ts: float) -> str:
        tm = time.gmtime(ts)
        return "%s %s %2d %02d:%02d:%02d UTC %d" % (DAYS[tm.tm_wday], MONTHS[tm.tm_mon - 1], tm.tm_mday,
                                                     tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year)

    while size < target_bytes:
        runs += 1
        seq += 1
        t += 3600 * (0.5 + rng.random())
        task = "%032x" % rng.getrandbits(128)
        task = "%s-%s-%s-%s-%s" % (task[:8], task[8:12], task[12:16], task[16:20], task[20:])
        it = t
        tick = lambda lo=0.0005, hi=0.01: rng.uniform(lo, hi)  # noqa: E731
        cexec.append("%s INFO ExtHandler [%s-%s] Target handler state: enabled [incarnation_%d]"
                     % (iso_of(it - 1.2), SNAP, SNAP_VER, seq))
        cexec.append("%s INFO ExtHandler [%s-%s] Executing command: %s/main/handle.sh enable with environment "
                     "variables: {\"AZURE_GUEST_AGENT_EXTENSION_VERSION\": \"%s\", \"ConfigSequenceNumber\": \"%d\"}"
                     % (iso_of(it - 1.0), SNAP, SNAP_VER, vdir, SNAP_VER, seq))
        shell.append("%s- ConfigSequenceNumber from environment variable seqNo:%d" % (shell_ts(it), seq))
        shell.append("%s- python3 path exists" % shell_ts(it))
        a(it, "Change log file to /var/log/azure/%s/extension.log" % SNAP); it += tick()
        a(it, "sequence number from environment variable is %d" % seq); it += tick()
        a(it, "setting file path is%s/config/%d.settings" % (vdir, seq)); it += tick()
        a(it, "starting enable"); it += tick()
        a(it, "taskId: %s" % task); it += tick()
        sleep_ms = rng.randrange(500, 5000)
        a(it, "Sleeping for milliseconds: %d" % sleep_ms); it += sleep_ms / 1000
        a(it, "Enable,success,4,Transitioning state in extension,False"); it += rng.uniform(0.3, 1.0)
        a(it, "starting daemon initially"); it += tick(0.05, 0.2)
        a(it, "safeFreezeBinary exists True"); it += tick()
        a(it, "final thread timeout60"); it += tick(0.05, 0.1)
        a(it, "The command snapshot is being validated"); it += tick(0.2, 0.8)
        a(it, "Plugin host file does not exist in the location /etc/azure/VMSnapshotScriptPluginConfig.json"); it += tick()
        a(it, "Triggering File System Consistent Backup because of error code StatusCode.FailedPrepostPluginConfigNotFound,")
        it += rng.uniform(2, 5)
        outcome = rng.random()
        if outcome < 0.03:  # network failure before the freeze
            a(it, "%s Failed to call http with error: timed out, stack trace: Traceback (most recent call last):"
              % iso_of(it).replace("T", " ").rstrip("Z"))
            ext.extend(['  File "/var/lib/waagent/%s-%s/main/HttpUtil.py", line 141, in HttpCallGetResponse' % (SNAP, SNAP_VER),
                        "    resp = self.connection.getresponse()",
                        "socket.timeout: timed out"])
            it += rng.uniform(30, 60)
            a(it, "T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error "
                  "StatusCode.FailedRetryableSnapshotFailedNoNetwork,")
            it += 1
            a(it, "Enable,error,1,Enable failed with error: FailedRetryableSnapshotFailedNoNetwork,False")
            shell.append("%s- 0 returned from handle.py" % shell_ts(it))
            cexec.append("%s INFO ExtHandler [%s-%s] Command: main/handle.sh enable" % (iso_of(it), SNAP, SNAP_VER))
            cexec.extend(["[stdout]", "0 returned from handle.py", "[stderr]"])
            continue
        a(it, "PreSnapshot: Status Code: 200"); it += tick()
        a(it, "Taking Snapshot through Host"); it += tick()
        a(it, "T:S freeze, timeout value 60"); it += tick()
        a(it, "fsfreeze mount :/mnt"); it += tick()
        a(it, "skip freeze is : False"); it += tick()
        a(it, "arg : ['%s/main/safefreeze/bin/safefreeze', '60', '/mnt', '/']" % vdir); it += tick()
        a(it, "proceeded for accepting signals")
        ft = it + 0.002
        inner = [
            dfmt(ft, "Info", "/etc/azure/MicrosoftRecoverySvcsSafeFreezeLock/SafeFreezeLockFile file opened Sucessfully"),
            dfmt(ft + 0.0001, "Info", "Aquiring lock succeeded"),
            dfmt(ft + 3.0, "Info", "****** 1. Starting Freeze Binary"),
            dfmt(ft + 4.0, "Info", "****** 4. Freeze Completed (Signal=1 received)"),
        ]
        if outcome < 0.06:  # freeze timed out: flushed at commit, without the End marker
            inner += [dfmt(ft + 66, "Error", "freeze timed-out"),
                      dfmt(ft + 66.001, "Error", "T:S ###### Enable failed with error: freeze took longer than timeout "
                                                   "StatusCode.FailedRetryableFsFreezeTimeout,")]
            it = ft + 70
            a(it, "================== Logs during Freeze Start ==============")
            ext.extend(inner)
            it += 1
            a(it, "Enable,error,1,Enable failed with error: FailedRetryableFsFreezeTimeout,False")
        else:
            inner += [dfmt(ft + 4.1, "Info", "****** 5. Snaphotting (Host) Started"),
                      dfmt(ft + 6.3, "Info", "****** 6. Snaphotting (Host) Completed"),
                      dfmt(ft + 6.31, "Info", "****** 7. Sending Thaw Signal to Binary")]
            it = ft + 6.33
            a(it, "================== Logs during Freeze Start ==============")
            ext.extend(inner)
            ext.append("================== Logs during Freeze End ==============")
            it += 0.001
            a(it, "============== Binary output traces start ================= ")
            bt = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ft + 3))
            for m in ("****** 2. Binary Freeze Started", "Freezing: /mnt", "Freezing: /"):
                it += 0.0002
                a(it, "%s %s" % (bt, m))
            bt = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ft + 6.3))
            for m in ("****** 8. Binary Thaw Signal Received", "Thawing: /", "Thawing: /mnt"):
                it += 0.0002
                a(it, "%s %s" % (bt, m))
            a(it, "============== Binary output traces end ================= ")
            it += 0.0005
            a(it, "T:S thaw result ")
            it += 0.01
            a(it, "From Host- IsSuccessful:true, SnapshotUri:https://md-%012x.z12.blob.storage.azure.net:443/%012x/abcd?"
                  "snapshot=%s, ErrorMessage:, StatusCode:200" % (rng.getrandbits(48), rng.getrandbits(48), iso_of(it)))
            it += rng.uniform(1, 2)
            a(it, "Enable,success,1,,False")
        shell.append("%s- 0 returned from handle.py" % shell_ts(it))
        cexec.append("%s INFO ExtHandler [%s-%s] Command: main/handle.sh enable" % (iso_of(it), SNAP, SNAP_VER))
        cexec.extend(["[stdout]", "0 returned from handle.py", "[stderr]"])
    files = {}
    for name, lines in (("extension.log", ext), ("shell.log", shell), ("CommandExecution.log", cexec)):
        data = ("\n".join(lines) + "\n").encode("ascii", "backslashreplace")
        (d / name).write_bytes(data)
        files["var/log/azure/%s/%s" % (SNAP, name)] = {"lines": len(lines), "bytes": len(data)}
    files["_runs"] = runs
    return files


def write_customscript(out: Path, rng: random.Random) -> dict:
    name, ver = "Microsoft.Azure.Extensions.CustomScript", "2.1.10"
    d = out / "var" / "log" / "azure" / name
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    t = float(START)
    for seq in range(1, 201):
        t += rng.uniform(3000, 15000)
        p = "[%s-%s]" % (name, ver)
        lines.append("%s INFO ExtHandler %s Target handler state: enabled [incarnation_%d]" % (iso_of(t), p, seq))
        lines.append("%s INFO ExtHandler %s Executing command: %s/%s-%s/bin/custom-script-shim enable with "
                     "environment variables: {\"ConfigSequenceNumber\": \"%d\"}" % (iso_of(t + 0.01), p, LIB, name, ver, seq))
        lines.append("%s INFO ExtHandler %s Command: bin/custom-script-shim enable" % (iso_of(t + 2.5), p))
        lines.extend(["[stdout]"] + APT_OUT[rng.randrange(0, 6):] + ["[stderr]"])
    data = ("\n".join(lines) + "\n").encode("ascii")
    (d / "CommandExecution.log").write_bytes(data)
    return {"var/log/azure/%s/CommandExecution.log" % name: {"lines": len(lines), "bytes": len(data)}}


WAAGENT_CONF = """\
#
# Microsoft Azure Linux Agent Configuration (benchmark bundle)
#
Extensions.Enabled=y
Extensions.GoalStatePeriod=6
Provisioning.Agent=auto
Provisioning.DeleteRootPassword=y
Provisioning.RegenerateSshHostKeyPair=n
Provisioning.MonitorHostName=n
ResourceDisk.Format=n
ResourceDisk.Filesystem=ext4
ResourceDisk.MountPoint=/mnt
ResourceDisk.EnableSwap=n
Logs.Verbose=n
Logs.Collect=y
Logs.CollectPeriod=3600
OS.EnableFirewall=y
OS.EnableRDMA=n
OS.RootDeviceScsiTimeout=300
OS.OpensslPath=None
OS.SshDir=/etc/ssh
HttpProxy.Host=None
HttpProxy.Port=None
AutoUpdate.UpdateToLatestVersion=y
AutoUpdate.GAFamily=Prod
"""

LEASES = """\
lease {
  interface "eth0";
  fixed-address 10.20.0.4;
  server-name "RD0017A477E0F2";
  option subnet-mask 255.255.255.0;
  option dhcp-lease-time 4294967295;
  option routers 10.20.0.1;
  option dhcp-message-type 5;
  option dhcp-server-identifier 168.63.129.16;
  option domain-name-servers 168.63.129.16;
  option dhcp-renewal-time 4294967295;
  option rfc3442-classless-static-routes 0,10,20,0,1,32,168,63,129,16,10,20,0,1,32,169,254,169,254,10,20,0,1;
  option unknown-245 a8:3f:81:10;
  option dhcp-rebinding-time 4294967295;
  option domain-name "bench0000example0000000000.ax.internal.cloudapp.net";
  renew 2 2160/11/18 09:12:44;
  rebind 2 2160/11/18 09:12:44;
  expire 2 2160/11/18 09:12:44;
}
"""

OS_RELEASE = """\
PRETTY_NAME="Ubuntu 22.04.5 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.5 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
"""


def write_misc(out: Path, end_t: float, files: list[tuple[str, int]]) -> None:
    (out / "etc").mkdir(parents=True, exist_ok=True)
    (out / "etc" / "waagent.conf").write_text(WAAGENT_CONF)
    (out / "etc" / "os-release").write_text(OS_RELEASE)
    (out / "etc" / "hostname").write_text("vm-bench-01\n")
    lease_dir = out / "var" / "lib" / "dhcp"
    lease_dir.mkdir(parents=True, exist_ok=True)
    (lease_dir / "dhclient.eth0.leases").write_text(LEASES)
    ts = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    t = end_t + 60
    lines = ["%s INFO Starting log collection at %s" % (ts(t), ts(t)),
             "%s INFO Using log collection mode normal" % ts(t),
             "%s INFO Using %s as $LIB_DIR" % (ts(t), LIB),
             "%s INFO Using /var/log/azure as $LOG_DIR" % ts(t),
             "%s INFO Using /var/log/waagent.log as $AGENT_LOG" % ts(t),
             "%s INFO ### Gathering Configuration Files ###" % ts(t),
             "%s INFO ### Gathering Log Files ###" % ts(t)]
    for path, _ in files:
        lines.append("%s INFO /%s" % (ts(t), path))
    lines.append("%s INFO ### Preparing list of files to add to archive ###" % ts(t))
    total = 0
    for path, size in files:
        lines.append("%s INFO Adding file /%s, size %d b" % (ts(t), path, size))
        total += size
    t += 40
    lines += ["%s INFO Uncompressed archive size is %d b" % (ts(t), total),
              "%s INFO ### Creating compressed archive ###" % ts(t),
              "%s INFO Successfully compressed files. Compressed archive size is %d b" % (ts(t), total // 9),
              "%s INFO Finishing log collection at %s" % (ts(t), ts(t)),
              "%s INFO Elapsed time: 40113 ms" % ts(t)]
    (out / "results.txt").write_text("\n".join(lines) + "\n")


def generate(out: Path, lines: int = 1_000_000, seed: int = 1, part_lines: int = PART_LINES,
             ext_mb: float = 4.0, force: bool = False) -> dict:
    """Write the bundle into ``out``; return a summary (files, line counts, level shares, seconds)."""
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SystemExit(f"{out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(out, lines, seed, part_lines)
    gen.run()
    log = gen.log
    ext_rng = random.Random(seed * 7919 + 1)
    snap = write_vmsnapshot(out, ext_rng, int(ext_mb * 1024 * 1024))
    cs = write_customscript(out, ext_rng)
    others = [(k, v["bytes"]) for k, v in {**snap, **cs}.items() if not k.startswith("_")]
    write_misc(out, log.clock.t, [(f["path"], f["bytes"]) for f in log.files] + others)
    records = sum(log.levels.values())
    summary = {
        "bundle": str(out),
        "seed": seed,
        "waagent_lines": log.total,
        "waagent_bytes": sum(f["bytes"] for f in log.files),
        "waagent_disk_bytes": sum(f["disk_bytes"] for f in log.files),
        "records": records,
        "levels": log.levels,
        "warn_error_share": round((log.levels["WARNING"] + log.levels["ERROR"]) / max(1, records), 4),
        "files": log.files,
        "extension_logs": {k: v for k, v in {**snap, **cs}.items() if not k.startswith("_")},
        "snapshot_runs": snap["_runs"],
        "first": iso_of(START),
        "last": iso_of(log.clock.t),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="output folder (the unpacked bundle)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="waagent.log lines in total (default 1000000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--part-lines", type=int, default=PART_LINES, help="lines per rotated part (default ~20 MB)")
    ap.add_argument("--ext-mb", type=float, default=4.0, help="size of the VMSnapshotLinux extension.log in MB")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    ap.add_argument("--json", action="store_true", help="print the full summary as JSON")
    args = ap.parse_args(argv)
    s = generate(args.out, args.lines, args.seed, args.part_lines, args.ext_mb, args.force)
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print("%s: %d waagent.log lines in %d files, %.1f MB uncompressed (%.1f MB on disk), "
              "WARNING+ERROR %.1f %% of records, %s .. %s, %.1f s"
              % (s["bundle"], s["waagent_lines"], len(s["files"]), s["waagent_bytes"] / 1e6,
                 s["waagent_disk_bytes"] / 1e6, 100 * s["warn_error_share"], s["first"], s["last"], s["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
