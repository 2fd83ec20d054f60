"""The web tier's stack: up on loopback, usable in a browser, and gone after stop.

Icinga Web 2's login page answers, the Director's schema is current, the
master's API has both agents connected and the IDO holds the master's program
status; a headless Chromium logs in and lands on the dashboard; nothing of the
stack listens beyond loopback; after stop no process of it is left and the
machine's policy-rc.d is as it was.
"""

from __future__ import annotations

from harness.polling import poll
from harness.vm.host import POLICY_RC_D
from harness.web.apache import status_of
from harness.web.browser import browser

LEFT_TIMEOUT = 10  # Chromium's processes take a second or two to go after quit


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


def test_admin_logs_in_and_lands_on_the_dashboard(web_stack, tmp_path_factory):
    shot = tmp_path_factory.mktemp("web-screenshots") / "dashboard.png"
    with browser(web_stack.base_url, tmp_path_factory.mktemp("chromium-profile")) as session:
        session.login(*web_stack.login)
        session.open("dashboard")
        assert "Dashboard" in session.driver.title
        menu = session.driver.find_element("id", "menu").text
        assert "Icinga Director" in menu and "Overview" in menu, menu
        session.screenshot(shot)
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
