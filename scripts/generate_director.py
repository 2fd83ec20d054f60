"""The Icinga Director basket, generated from the shipped templates and the parsers.

director/check_vm-basket.json is what `icingacli director basket restore` takes:

- a data field for every variable of a VM or hypervisor host that the shipped
  Icinga configuration uses: those the inventory writes, and every option of
  every CheckCommand that the host may set (thresholds included), typed as the
  command passes it (a repeated option is an array), in one category per command;
- the host templates vm-host and vm-hypervisor and the service templates of
  icinga2-conf/templates.conf, with the same commands and intervals;
- the apply rules, as two service sets (a Director basket holds no apply rule
  of its own): the services of a VM host (per disk and per interface through
  apply-for) and those of a hypervisor;
- the import sources (fileshipper, reading what check_vm_director_feed
  writes), the sync rules that create, update and delete the hosts (the zone
  included, so that a migrated VM is checked by its new hypervisor's agent),
  and the jobs that import, sync and deploy on a schedule. A hypervisor's host
  stays in the master's zone (its cluster-zone check sees its agent from
  there) and its services run on the agent its name names.

The CheckCommands are not in it: the Director's kickstart imports them from
the package's plugins-contrib file as external commands.

    python3 scripts/generate_director.py           rewrite the basket
    python3 scripts/generate_director.py --check   exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASKET_FILE = Path("director") / "check_vm-basket.json"
TEMPLATES_FILE = Path("icinga2-conf") / "templates.conf"
# Where check_vm_director_feed writes by default (debian/check-vm-director-feed.service).
IMPORT_DIR = "/var/lib/check-vm-director"
DATATYPE = "Icinga\\Module\\Director\\DataType\\DataType"
FILESHIPPER = "Icinga\\Module\\Fileshipper\\ProvidedHook\\Director\\ImportSource"
JOB = "Icinga\\Module\\Director\\Job\\"
# Import, sync and deploy every 2 minutes, as often as the feed's timer writes.
JOB_INTERVAL = "120"
# Seconds a deployment waits after the last one: low, so a migration follows fast.
DEPLOY_GRACE = "60"


def _generate_conf():
    spec = importlib.util.spec_from_file_location(
        "generate_conf", Path(__file__).with_name("generate_conf.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate_conf = _generate_conf()

# The variables check_vm_director_feed writes, which the sync rules set: name,
# Director data type, caption and description.
VM_INVENTORY = (
    ("hypervisor", "String", "Hypervisor",
     "The Icinga endpoint (and zone) of the VM's hypervisor, which runs its checks"),
    ("vm_name", "String", "libvirt domain",
     "The domain every vm_* command checks: its name, or its UUID where the checks take it so"),
    ("vm_uuid", "String", "libvirt UUID", "The domain's UUID"),
    ("vm_connect", "String", "libvirt URI", "The URI the checks read on the hypervisor"),
    ("vm_disks", "Array", "Disks", "The disks checked one service each (disk <target>)"),
    ("vm_interface_macs", "Array", "Interfaces",
     "The MAC addresses of the interfaces checked one service each (nic <MAC>)"),
    ("vm_interfaces", "Dictionary", "Interfaces by MAC",
     "Each interface's MAC with its host-side device (target)"),
)
HYPERVISOR_INVENTORY = (
    ("vm_hypervisor_endpoint", "String", "Agent endpoint",
     "The Icinga endpoint (and zone) of the hypervisor's agent, which runs vm-host and vm-pool"),
    ("vm_hypervisor_connect", "String", "libvirt URI",
     "The URI the hypervisor's checks read on it"),
    ("vm_expected_domains", "Array", "Expected VMs",
     "The VMs the monitoring has hosts for on this hypervisor (drift: not monitored, gone)"),
)
# Options a host does not set through a field: the sync sets them from the inventory.
SET_BY_SYNC = {"domain", "connect", "state_dir", "expect_domain"}
# The hypervisor's commands read their URI and expected domains from these host variables.
HYPERVISOR_COMMAND_VARIABLES = {"connect": "vm_hypervisor_connect",
                                "expect_domain": "vm_expected_domains"}


# -- data fields ------------------------------------------------------------------------

class Fields:
    """The basket's data fields and categories, numbered in the order they are added."""

    def __init__(self) -> None:
        self.fields: dict[str, dict] = {}
        self.categories: dict[str, dict] = {}

    def add(self, varname: str, kind: str, caption: str, description: str,
            category: str) -> dict:
        """The field of `varname` (added once), as a template's field reference."""
        if varname not in self.fields:
            self.categories.setdefault(category, {"category_name": category,
                                                  "description": None})
            number = str(len(self.fields) + 1)
            self.fields[varname] = {
                "originalId": number, "varname": varname, "caption": caption,
                "description": description, "datatype": DATATYPE + kind, "format": None,
                "settings": {"visibility": "visible"} if kind == "String" else {},
                "category": category}
        return {"datafield_id": int(self.fields[varname]["originalId"]),
                "is_required": "n", "var_filter": None}

    def by_id(self) -> dict[str, dict]:
        return {field["originalId"]: field for field in self.fields.values()}


def option_kind(action: argparse.Action) -> str:
    """The Director data type of a CheckCommand variable, as the command passes it."""
    if isinstance(action, argparse._AppendAction):
        return "Array"
    if isinstance(action, argparse._StoreTrueAction):
        return "Boolean"
    return "String"


def command_fields(fields: Fields, command) -> list[dict]:
    """A field for each option of the command that a host may set."""
    category = f"check_vm {command.name}"
    references = []
    for action in generate_conf.passed_options(command):
        if action.dest in SET_BY_SYNC:
            continue
        varname = f"vm_{command.name}_{action.dest}"
        said = generate_conf.description(command.parser, action, command.of_a_vm)
        caption = f"vm_{command.name}: {generate_conf.long_flag(action)}"
        references.append(fields.add(varname, option_kind(action), caption, said, category))
    return references


def inventory_fields(fields: Fields, listed, category: str) -> list[dict]:
    return [fields.add(name, kind, caption, said, category)
            for name, kind, caption, said in listed]


# -- templates, from templates.conf ------------------------------------------------------

_TEMPLATE = re.compile(r'^template (Host|Service) "([^"]+)" \{\n(.*?)^\}', re.M | re.S)
_ATTRIBUTE = re.compile(r'^\t(check_command|check_interval|retry_interval|'
                        r'max_check_attempts) = "?([^"\n]*)"?$', re.M)
_VARIABLE = re.compile(r'^\tvars\.(\w+) = (.+)$', re.M)
# A template's variable set to the object's own name: the Director writes values,
# not expressions, so the name comes in as the macro Icinga resolves at check time.
OWN_NAME = {"name": "$host.name$"}
_IMPORT = re.compile(r'^\timport "([^"]+)"$', re.M)


def seconds(value: str) -> str:
    """An Icinga duration (1m, 30s) as the Director stores it: seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    return str(int(value[:-1]) * units[value[-1]]) if value[-1] in units else value


def shipped_templates(text: str) -> dict[tuple[str, str], dict]:
    """(Host|Service, name) -> the Director properties of each template of templates.conf."""
    found = {}
    for kind, name, body in _TEMPLATE.findall(text):
        template: dict = {"object_name": name, "object_type": "template"}
        if _IMPORT.findall(body):
            template["imports"] = _IMPORT.findall(body)
        for key, value in _ATTRIBUTE.findall(body):
            template[key] = seconds(value) if key.endswith("interval") else value
        variables = {name: _variable_value(value) for name, value in _VARIABLE.findall(body)}
        if variables:
            template["vars"] = variables
        found[(kind, name)] = template
    return found


def _variable_value(text: str) -> str:
    """A template variable's value in templates.conf as the Director stores it."""
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if text in OWN_NAME:
        return OWN_NAME[text]
    raise ValueError(f"templates.conf: a variable the basket cannot hold: {text}")


# -- the basket -------------------------------------------------------------------------

def service_sets() -> dict[str, dict]:
    """The apply rules of templates.conf and example-hosts-per-vm.conf, as service sets."""
    vm_services = {
        "vm-cpu": _member("vm-cpu"),
        "vm-mem": _member("vm-mem"),
        "disk ": _member("vm-disk-io", "host.vars.vm_disks", {"vm_disk_io_disk": ["$config$"]}),
        "nic ": _member("vm-nic", "host.vars.vm_interface_macs",
                        {"vm_nic_interface": ["$config$"]}),
    }
    vm_services = {name: {"object_name": name, **member} for name, member in vm_services.items()}
    return {
        "check_vm VM": {
            "object_name": "check_vm VM", "object_type": "template",
            "description": "The services of a VM host: CPU, memory, one per disk "
                           "(disk <target>) and one per interface (nic <MAC>)",
            "assign_filter": '"vm-host"=host.templates', "services": vm_services},
        "check_vm hypervisor": {
            "object_name": "check_vm hypervisor", "object_type": "template",
            "description": "The services of a hypervisor host: its VMs by state, drift and "
                           "overcommit (vm-host), its storage pools (vm-pool)",
            "assign_filter": "host.vars.vm_hypervisor_connect=true",
            # Run on the agent (command_endpoint = host_name): the hypervisor's
            # host is named like its agent's endpoint and stays in the master's
            # zone, where its cluster-zone check sees whether the agent is there.
            "services": {name: {"object_name": name, **_member(name), "use_agent": "y"}
                         for name in ("vm-host", "vm-pool")}},
    }


def _member(template: str, apply_for: str | None = None, variables: dict | None = None) -> dict:
    member: dict = {"object_type": "apply", "imports": [template]}
    if apply_for:
        member["apply_for"] = apply_for
    if variables:
        member["vars"] = variables
    return member


def import_source(name: str, file_name: str, description: str) -> dict:
    return {"source_name": name, "provider_class": FILESHIPPER, "key_column": "name",
            "description": description,
            "settings": {"basedir": IMPORT_DIR, "file_name": file_name, "file_format": "json"},
            "modifiers": []}


def _property(source: str, expression: str, destination: str, priority: int) -> dict:
    return {"source": source, "source_expression": expression,
            "destination_field": destination, "priority": str(priority),
            "filter_expression": None, "merge_policy": "override"}


def sync_rule(name: str, source: str, description: str,
              mapping: list[tuple[str, str]]) -> dict:
    """A host sync rule: merge (what an operator set in the Director stays), and
    delete the hosts whose rows are gone."""
    return {"rule_name": name, "object_type": "host", "update_policy": "merge",
            "purge_existing": "y", "purge_action": "delete", "filter_expression": None,
            "description": description,
            "properties": [_property(source, expression, destination, priority)
                           for priority, (expression, destination) in
                           enumerate(mapping, start=1)]}


VMS_SOURCE, HYPERVISORS_SOURCE = "check_vm VMs", "check_vm hypervisors"
VM_MAPPING = [("${name}", "object_name"), ("${display_name}", "display_name"),
              ("vm-host", "import"), ("${hypervisor}", "zone"),
              *((f"${{{name}}}", f"vars.{name}") for name, *_ in VM_INVENTORY)]
HYPERVISOR_MAPPING = [
    ("${name}", "object_name"), ("${display_name}", "display_name"),
    ("vm-hypervisor", "import"),
    *((f"${{{name}}}", f"vars.{name}") for name, *_ in HYPERVISOR_INVENTORY),
    *((f"${{{variable}}}", f"vars.vm_{check}_{option}")
      for check in ("host", "pool") for option, variable in HYPERVISOR_COMMAND_VARIABLES.items()
      if (check, option) != ("pool", "expect_domain"))]


def jobs() -> dict[str, dict]:
    """Import both sources, sync both rules, deploy when the config changed. The
    Director's daemon takes due jobs in the order of their names: the number
    in each name is its place in the cycle."""
    listed = {
        "check_vm 1 import VMs": ("ImportJob", {"source": VMS_SOURCE, "run_import": "y"}),
        "check_vm 2 import hypervisors": ("ImportJob", {"source": HYPERVISORS_SOURCE,
                                                        "run_import": "y"}),
        "check_vm 3 sync VM hosts": ("SyncJob", {"rule": "check_vm VM hosts",
                                                 "apply_changes": "y"}),
        "check_vm 4 sync hypervisors": ("SyncJob", {"rule": "check_vm hypervisors",
                                                    "apply_changes": "y"}),
        "check_vm 5 deploy": ("ConfigJob", {"force_generate": "n", "deploy_when_changed": "y",
                                            "grace_period": DEPLOY_GRACE}),
    }
    return {name: {"job_name": name, "job_class": JOB + kind, "disabled": "n",
                   "run_interval": JOB_INTERVAL, "settings": settings}
            for name, (kind, settings) in listed.items()}


def basket() -> dict:
    """The whole basket, keyed by the Director's type names."""
    templates = shipped_templates((ROOT / TEMPLATES_FILE).read_text())
    fields = Fields()
    by_name = {command.name: command for command in generate_conf.commands()}
    vm_host = dict(templates[("Host", "vm-host")])
    vm_host["fields"] = inventory_fields(fields, VM_INVENTORY, "check_vm inventory") + [
        reference for name in ("cpu", "mem", "disk_io", "nic", "alive")
        for reference in command_fields(fields, by_name[name])]
    hypervisor = dict(templates[("Host", "vm-hypervisor")])
    hypervisor["fields"] = inventory_fields(fields, HYPERVISOR_INVENTORY,
                                            "check_vm hypervisor") + [
        reference for name in ("host", "pool")
        for reference in command_fields(fields, by_name[name])]
    services = {name: template for (kind, name), template in templates.items()
                if kind == "Service"}
    return {
        "DatafieldCategory": fields.categories,
        "Datafield": fields.by_id(),
        "HostTemplate": {"vm-host": vm_host, "vm-hypervisor": hypervisor},
        "ServiceTemplate": services,
        "ServiceSet": service_sets(),
        "ImportSource": {
            VMS_SOURCE: import_source(VMS_SOURCE, "vms.json",
                                      "The VMs of every hypervisor (check_vm_director_feed)"),
            HYPERVISORS_SOURCE: import_source(
                HYPERVISORS_SOURCE, "hypervisors.json",
                "The hypervisors with their expected VMs (check_vm_director_feed)")},
        "SyncRule": {
            "check_vm VM hosts": sync_rule(
                "check_vm VM hosts", VMS_SOURCE,
                "A host per VM, in its hypervisor's zone", VM_MAPPING),
            "check_vm hypervisors": sync_rule(
                "check_vm hypervisors", HYPERVISORS_SOURCE,
                "A host per hypervisor, named like its agent's endpoint",
                HYPERVISOR_MAPPING)},
        "DirectorJob": jobs(),
    }


def basket_text() -> str:
    return json.dumps(basket(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the basket is stale")
    options = parser.parse_args(argv)
    path = ROOT / BASKET_FILE
    text = basket_text()
    if options.check:
        if not path.exists() or path.read_text() != text:
            print(f"{BASKET_FILE} is stale: run python3 scripts/generate_director.py",
                  file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
