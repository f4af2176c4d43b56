"""Pure rules: the attribute mapping, contract dates, the access plan, what a notice says, and the
ports the engines depend on (imports core, lucca, entra)."""
