"""The Director's side of the web tier: kickstart, the package's basket, the jobs.

A cycle is what the basket's jobs run, in their order: the feed writes the
files, the two imports read them, the two syncs apply them, and a deployment
sends the result to icinga2 (only when it changed). `run_jobs_by_daemon` lets
the Director's own daemon run the jobs once; `cycle` runs the same commands
the jobs run, so that a test knows when the cycle is over.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
from pathlib import Path

from harness.polling import wait_for

from .feed import Feed
from .stack import WebStack

BASKET = Path("/usr/share/check-vm/director/check_vm-basket.json")
IMPORTS = ("check_vm VMs", "check_vm hypervisors")
SYNCS = ("check_vm VM hosts", "check_vm hypervisors")
CHECKED_TIMEOUT = 90
RESEND_AFTER = 15
RUNS_QUERY = {"importsource": "SELECT COUNT(*) FROM import_run WHERE source_id = {}",
              "syncrule": "SELECT COUNT(*) FROM sync_run WHERE rule_id = {}"}
JOBS_QUERY = ("SELECT job_name, COALESCE(last_attempt_succeeded, ''), "
              "COALESCE(ts_last_attempt, '') FROM director_job")


class DirectorFlow:
    """The stack's Director fed by the installed feed."""

    def __init__(self, stack: WebStack, feed: Feed) -> None:
        self.stack = stack
        self.feed = feed
        self.director = stack.director

    def kickstart(self) -> None:
        self.director.run("kickstart", "run")

    def external_commands(self) -> set[str]:
        rows = self.stack.sql("director", "SELECT object_name FROM icinga_command "
                                          "WHERE object_type = 'external_object'")
        return {name for (name,) in rows}

    def restore_basket(self) -> str:
        return self.director.run("basket", "restore", stdin=BASKET.read_text()).stdout

    def jobs(self) -> dict[str, tuple[str, str]]:
        """job name -> (last attempt succeeded y/n/'', time of the last attempt)."""
        return {name: (succeeded, attempt)
                for name, succeeded, attempt in self.stack.sql("director", JOBS_QUERY)}

    def run_jobs_by_daemon(self, timeout: float = 120) -> float:
        """Start the Director's daemon, wait until it has run every job once and
        the master runs what it deployed, stop it; the seconds it took."""
        began, started = time.monotonic(), self._master_started()
        self.director.start_daemon()
        try:
            wait_for(lambda: all(attempt for _, attempt in self.jobs().values()), timeout,
                     "the Director's daemon running every job once",
                     lambda: self.director.daemon_log.read_text()[-3000:])
        finally:
            self.director.stop_daemon()
        self.wait_deployed(started, timeout)
        return time.monotonic() - began

    def cycle(self) -> str:
        """The feed, then what the jobs run: both imports, both syncs, a deployment;
        returns once the master runs the deployed config (if anything changed)."""
        self.feed.run()
        started = self._master_started()
        sources, rules = self.director.ids("importsource"), self.director.ids("syncrule")
        said = [self.director.run("importsource", "run", "--id", str(sources[name])).stdout
                for name in IMPORTS]
        # The sync's purge takes the last import before the last sync by whole
        # seconds: an import and a sync within one second would purge nothing.
        # The daemon's jobs are seconds apart; so are these.
        time.sleep(1.05 - time.time() % 1)
        said += [self.director.run("syncrule", "run", "--id", str(rules[name])).stdout
                 for name in SYNCS]
        deployed = self.director.run("config", "deploy").stdout
        said.append(deployed)
        if "has been deployed" in deployed:
            self.wait_deployed(started)
        return "\n".join(said)

    def _master_started(self) -> float:
        return self.stack.master.program_start()

    def runs(self, kind: str, number: int) -> int:
        """How many runs the history of an import source or sync rule holds."""
        return int(self.stack.sql("director", RUNS_QUERY[kind].format(int(number)))[0][0])

    def hosts(self) -> dict[str, dict]:
        """The master's hosts with zone, last result, state, vars and templates."""
        return self.stack.master.objects("Host", "zone", "last_check_result", "state",
                                         "vars", "templates")

    def services(self) -> dict[str, dict]:
        """The master's services with zone, last result, command and host."""
        return self.stack.master.objects("Service", "zone", "last_check_result",
                                         "check_command", "host_name")

    def check_now(self, names: set[str]) -> dict[str, dict]:
        """Have the hosts and every service of them checked now (through the master's
        API); wait for a result of each, hosts included, that started after the
        request; the services with their results. The request
        is repeated while results are missing: an agent that reloads meanwhile (its
        config synced) drops what it was asked before."""
        asked = time.time()
        sent = [0.0]

        def checked():
            if time.monotonic() - sent[0] > RESEND_AFTER:
                self._reschedule(names)
                sent[0] = time.monotonic()
            found = {key: attrs for key, attrs in self.services().items()
                     if attrs["host_name"] in names}
            hosts = [attrs for name, attrs in self.hosts().items() if name in names]
            fresh = all((attrs["last_check_result"] or {}).get("schedule_start", 0) > asked
                        for attrs in [*found.values(), *hosts])
            return found if found and fresh else None
        return wait_for(checked, CHECKED_TIMEOUT, f"fresh results of every service of "
                        f"{sorted(names)}", self.stack.master.log_tail)

    def _reschedule(self, names: set[str]) -> None:
        for kind in ("Host", "Service"):
            for name in names:
                self.stack.master.api("/v1/actions/reschedule-check", {
                    "type": kind, "filter": f"host.name=={json.dumps(name)}", "force": True})

    def wait_deployed(self, started: float, timeout: float = 60) -> None:
        """Until icinga2 has accepted the last deployment (`config deploymentstatus`
        collects the stage's outcome) and the master's new worker, started after
        `started`, answers; AssertionError with icinga2's startup log if it refused."""
        def active() -> bool:
            self.director.run("config", "deploymentstatus", check=False)
            (succeeded, log), = self.stack.sql(
                "director", "SELECT COALESCE(startup_succeeded, ''), "
                            "COALESCE(startup_log, '') FROM director_deployment_log "
                            "ORDER BY id DESC LIMIT 1")
            if succeeded == "n":
                raise AssertionError(f"icinga2 refused the deployment: {log[-3000:]}")
            return succeeded == "y" and self._reloaded(started)
        wait_for(active, timeout, "the master running the Director's deployment",
                 self.stack.master.log_tail)

    def _reloaded(self, started: float) -> bool:
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError):
            return self._master_started() > started
        return False
