"""The web tier: Icinga Web 2 with the Director and the graphite module over an Icinga 2 cluster."""
