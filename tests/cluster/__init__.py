"""The cluster tier: an Icinga 2 master and two agents run check_vm's package."""
