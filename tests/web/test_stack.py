"""The web tier's stack: up on loopback, usable in a browser, and gone after stop.

Icinga Web 2's login page answers, the Director's schema is current, the
master's API has both agents connected and the IDO holds the master's program
status; a headless Chromium logs in and lands on the dashboard; nothing of the
stack listens beyond loopback; after stop no process of it is left and the
machine's policy-rc.d is as it was.
"""

from __future__ import annotations

import pwd
import time
from pathlib import Path

from harness.graphs.process import session_pids
from harness.polling import poll, wait_for
from harness.vm.host import POLICY_RC_D
from harness.web.apache import status_of
from harness.web.browser import browser

LEFT_TIMEOUT = 10  # Chromium's processes take a second or two to go after quit
RESULT_TIMEOUT = 30
# The packaged user each daemon of the stack runs as (apache's children, its master is root).
USERS = {"mariadbd": "mysql", "icinga2": "nagios", "apache2": "www-data"}


def owners(web_stack) -> dict[str, set[str]]:
    """Command name -> the users its processes of the stack run as."""
    found: dict[str, set[str]] = {}
    for session in web_stack.sessions():
        for pid in session_pids(session):
            status = Path(f"/proc/{pid}/status").read_text()
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            user = pwd.getpwuid(int(fields["Uid"].split()[0])).pw_name
            found.setdefault(fields["Name"].strip(), set()).add(user)
    return found


def test_login_page_answers(web_stack):
    assert status_of(f"{web_stack.base_url}/authentication/login") == 200


def test_director_schema_is_current(web_stack):
    result = web_stack.director.run("migration", "pending", "--verbose", check=False)
    assert (result.returncode, result.stdout.strip()) == (1, "There are no pending migrations"), \
        result.stderr


def test_master_has_both_agents_connected(web_stack):
    status = web_stack.master.api("/v1/status/ApiListener")["results"][0]["status"]["api"]
    assert sorted(status["conn_endpoints"]) == sorted(web_stack.agents)
    assert sorted(web_stack.agents) == sorted(web_stack.nodes)


def test_ido_holds_the_masters_program_status(web_stack):
    rows = web_stack.sql("icinga2ido", "SELECT i.instance_name, p.is_currently_running "
                                       "FROM icinga_programstatus p JOIN icinga_instances i "
                                       "USING (instance_id)")
    assert rows == [("default", "1")]


def test_daemons_run_as_their_packaged_users(web_stack):
    found = owners(web_stack)
    for name, user in USERS.items():
        assert user in found.get(name, set()), found
    assert found["icinga2"] == {"nagios"} and found["mariadbd"] == {"mysql"}, found


def test_an_agent_runs_a_check_vm_check_as_nagios(web_stack):
    """A host made on agent-a's own API: the package's vm_cpu reads the test-driver
    node file and keeps its counters in the stack's state dir."""
    agent, [domain, *_] = web_stack.agents["agent-a"], web_stack.nodes["agent-a"].domains
    agent.create("Host", "probe", {
        "check_command": "vm_cpu", "check_interval": 300, "enable_active_checks": True,
        "vars.vm_name": domain, "vars.vm_connect": web_stack.hypervisors["agent-a"]})
    since = time.time()
    agent.api("/v1/actions/reschedule-check", {"type": "Host", "host": "probe", "force": True})

    def result():
        found = agent.api("/v1/objects/hosts/probe?attrs=last_check_result")["results"]
        last = found[0]["attrs"]["last_check_result"] or {}
        return last if last.get("schedule_start", 0) >= since - 1 else None
    last = wait_for(result, RESULT_TIMEOUT, "the probe's check result", agent.log_tail, 0.3)
    assert last["exit_status"] == 0, last["output"]
    assert last["performance_data"], last
    state_files = [path for path in web_stack.state_dir.rglob("*") if path.is_file()]
    assert state_files and {path.owner() for path in state_files} == {"nagios"}


def test_the_director_lists_and_runs_its_daemon(web_stack):
    assert web_stack.director.ids("importsource") == {}
    assert web_stack.director.ids("syncrule") == {}
    assert web_stack.director.ids("job") == {}
    pid = web_stack.director.start_daemon()
    try:
        assert wait_for(lambda: "_director" in owners(web_stack).get("icingacli", set())
                        or None, 10, "the Director's daemon as _director")
    finally:
        web_stack.director.stop_daemon()
    assert not Path(f"/proc/{pid}").exists()


def test_the_directors_kickstart_and_deploy_reach_the_master(web_stack):
    """The master's endpoint, zone and API user are what kickstart and deploy need."""
    web_stack.director.run("kickstart", "run")
    zones = {name for name, in web_stack.sql("director", "SELECT object_name FROM icinga_zone")}
    assert {"master", "agent-a", "agent-b", "director-global"} <= zones, zones
    deployed = web_stack.director.run("config", "deploy")
    assert "has been deployed" in deployed.stdout, deployed.stdout

    def director_stage():
        packages = web_stack.master.api("/v1/config/packages")["results"]
        return any(p["name"] == "director" and p["active-stage"] for p in packages)
    wait_for(director_stage, RESULT_TIMEOUT, "the Director's config package on the master",
             web_stack.master.log_tail)


def test_admin_logs_in_and_lands_on_the_dashboard(web_stack, tmp_path_factory):
    shot = tmp_path_factory.mktemp("web-screenshots") / "dashboard.png"
    with browser(web_stack.base_url, tmp_path_factory.mktemp("chromium-profile")) as session:
        session.login(*web_stack.login)
        session.open("dashboard")
        assert "Dashboard" in session.driver.title
        menu = session.driver.find_element("id", "menu").text
        assert "Icinga Director" in menu and "Overview" in menu, menu
        session.screenshot(shot)
        status, content_type, body = session.fetch("dashboard")
        assert (status, content_type) == (200, "text/html") and b"Dashboard" in body
        assert web_stack.listening_beyond_loopback() == []
    assert shot.read_bytes().startswith(b"\x89PNG")
    print(f"screenshot: {shot}")


def test_nothing_listens_beyond_loopback(web_stack):
    assert web_stack.listening_beyond_loopback() == []


def test_nothing_is_left_after_stop(web_stack, policy_rc_d_before):
    """Last in the module: the fixture's stop, asserted (the teardown's stop is then a no-op)."""
    web_stack.stop()
    assert poll(lambda: not web_stack.left_running(), LEFT_TIMEOUT, 0.2), \
        web_stack.left_running()
    assert POLICY_RC_D.exists() == policy_rc_d_before
